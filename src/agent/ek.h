// Finding the TPM's Endorsement Key and its certificate.
#ifndef TPMJOIN_SRC_AGENT_EK_H_
#define TPMJOIN_SRC_AGENT_EK_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/agent/config.h"
#include "src/agent/ek_profile.h"
#include "src/agent/tss.h"
#include "src/common/bytes.h"
#include "src/common/keys.h"

namespace tpmjoin::agent {

struct Ek {
  const EkProfile* profile = nullptr;
  TpmHandle handle;          // persistent (closed on release) or created (flushed)
  bool persistent = false;
  TPM2B_PUBLIC public_area = {};
  EkPublic identity;         // PKIX DER, hash, key type
  std::optional<Bytes> cert_der;   // set by ReadEkCertificate
  // The EK NV range, when LoadEk listed it (so that absent indices are not
  // probed again).
  std::optional<std::vector<TPM2_HANDLE>> nv_handles;

  // A low-range EK is usable only through PolicySecret(TPM_RH_ENDORSEMENT);
  // a high-range one also with its (empty) authValue.
  bool needs_policy() const {
    return (public_area.publicArea.objectAttributes & TPMA_OBJECT_USERWITHAUTH) == 0;
  }
};

// An EK an earlier join chose (recorded in the AK cache): its profile and
// the SHA-256 of its PKIX DER.
struct RememberedEk {
  std::string profile_name;
  std::string ek_pub_hash;
};

// Finds the EK the config asks for (REFERENCE.md section 4), without its
// certificate:
//  - rsa: L-1 at 0x81010001 when persistent, else CreatePrimary with the
//    L-1 template (honouring an EK nonce/template in NV); certificate from
//    NV 0x01C00002 when present.
//  - ecc with ek_cert_file: the profile of the certificate's curve (P-256:
//    L-2, P-384: H-3, P-521: H-4).
//  - ecc otherwise: a persistent EK in `remembered` that is still there
//    (no probing of the NV range), else the first ECC profile with a
//    certificate in NV (L-2, H-2, H-3, H-4); without any ECC certificate,
//    the L-2 EK.
// The EK is the persistent one of its profile, or one made by CreatePrimary
// with the profile's template (L-1 and L-2: the template and/or nonce in NV
// when provisioned).
absl::StatusOr<Ek> LoadEk(TpmConnection& tpm, const AgentConfig& config,
                          absl::Span<const RememberedEk> remembered = {});

// Sets ek->cert_der from config.ek_cert_file (unless LoadEk already read
// it), else from the profile's NV index (left empty when the TPM has none).
// A certificate whose key is not the EK's is an error (INVALID_ARGUMENT for
// the file, TPM for NV).
absl::Status ReadEkCertificate(TpmConnection& tpm, const AgentConfig& config, Ek* ek);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_EK_H_
