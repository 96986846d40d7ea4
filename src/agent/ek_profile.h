// EK templates and NV indices of the TCG EK Credential Profile for TPM 2.0
// (REFERENCE.md section 4).
#ifndef TPMJOIN_SRC_AGENT_EK_PROFILE_H_
#define TPMJOIN_SRC_AGENT_EK_PROFILE_H_

#include <tss2/tss2_tpm2_types.h>

#include <optional>

#include "absl/types/span.h"
#include "src/agent/config.h"
#include "src/common/bytes.h"

namespace tpmjoin::agent {

struct EkProfile {
  const char* name;             // "L-1", "H-3", ...
  KeyAlgorithm algorithm;
  TPM2_HANDLE cert_index;       // EK certificate
  TPM2_HANDLE nonce_index;      // optional EK nonce (low range only)
  TPM2_HANDLE template_index;   // optional EK template (low range only)
  TPM2_HANDLE persistent_handle;  // where provisioning usually puts this EK
  // The default template (TCG EK Credential Profile, B.3/B.4) with the EK
  // nonce, if any, in the unique field; nullptr when we do not carry the
  // template (its policy digest), so the EK must be provisioned.
  TPMT_PUBLIC (*make_template)(std::optional<ByteSpan> nonce);
};

// L-1 (RSA 2048) and L-2 (ECC P-256).
const EkProfile& RsaLowProfile();
const EkProfile& EccLowProfile();

// ECC profiles in order of preference when looking for an EK certificate:
// L-2 (P-256), H-2 (P-256), H-3 (P-384), H-4 (P-521).
absl::Span<const EkProfile> EccProfiles();

// Whether `pub` has the shape of an EK: a restricted decryption primary key
// that only its policy (or user auth for high range) can use.
bool LooksLikeEk(const TPMT_PUBLIC& pub);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_EK_PROFILE_H_
