// EK templates and NV indices of the TCG EK Credential Profile for TPM 2.0
// (REFERENCE.md section 4; templates as in the profile's annex B and
// tpm2-tools' tpm2_createek).
#ifndef TPMJOIN_SRC_AGENT_EK_PROFILE_H_
#define TPMJOIN_SRC_AGENT_EK_PROFILE_H_

#include <tss2/tss2_tpm2_types.h>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "src/agent/config.h"
#include "src/common/bytes.h"

namespace tpmjoin::agent {

struct EkProfile {
  const char* name;             // "L-1", "H-3", ...
  KeyAlgorithm algorithm;
  TPM2_ECC_CURVE curve;         // ECC profiles; TPM2_ECC_NONE for RSA
  TPM2_HANDLE cert_index;       // EK certificate
  TPM2_HANDLE nonce_index;      // optional EK nonce (low range only; else 0)
  TPM2_HANDLE template_index;   // optional EK template (low range only; else 0)
  TPM2_HANDLE persistent_handle;  // where provisioning usually puts this EK
  // The profile's default template (unique field as the profile has it:
  // zeros for the low range, empty for the high range).
  TPMT_PUBLIC (*make_template)();
};

// L-1 (RSA 2048) and L-2 (ECC P-256).
const EkProfile& RsaLowProfile();
const EkProfile& EccLowProfile();

// ECC profiles in order of preference when looking for an EK certificate:
// L-2 (P-256), H-2 (P-256), H-3 (P-384), H-4 (P-521).
absl::Span<const EkProfile> EccProfiles();

// The profile named `name` ("L-1", "H-3", ...); nullptr when unknown.
const EkProfile* ProfileNamed(absl::string_view name);

// The ECC profile for an EK certificate's curve when only the certificate
// tells: P-256 -> L-2, P-384 -> H-3, P-521 -> H-4; nullptr for others.
const EkProfile* EccProfileForCurve(TPM2_ECC_CURVE curve);

// Whether `pub` has the shape of an EK: a restricted decryption primary key
// that only its policy (or user auth for high range) can use.
bool LooksLikeEk(const TPMT_PUBLIC& pub);

// Checks an EK template read from the profile's template NV index: an EK
// (LooksLikeEk) with the profile's key, nameAlg and symmetric algorithm
// (what a verifier assumes when it makes the credential), usable with the
// endorsement hierarchy's authorization (userWithAuth, or the profile's
// PolicySecret(TPM_RH_ENDORSEMENT) authPolicy). The message says what
// differs.
absl::Status CheckNvEkTemplate(const EkProfile& profile, const TPMT_PUBLIC& pub);

// Puts an EK nonce into the unique field as the TCG EK Credential Profile
// (and tpm2_createek -t) do: RSA: the nonce, zero-padded to 256 bytes;
// ECC: x = the nonce zero-padded to 32 bytes, y = 32 zero bytes. False when
// the nonce does not fit (more than 256 / 32 bytes).
bool ApplyEkNonce(ByteSpan nonce, TPMT_PUBLIC* pub);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_EK_PROFILE_H_
