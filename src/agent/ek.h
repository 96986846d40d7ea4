// Finding the TPM's Endorsement Key and its certificate.
#ifndef TPMJOIN_SRC_AGENT_EK_H_
#define TPMJOIN_SRC_AGENT_EK_H_

#include <optional>
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

// Finds the EK the config asks for (REFERENCE.md section 4), without its
// certificate:
//  - rsa: L-1 at 0x81010001 when persistent, else CreatePrimary with the
//    L-1 template (honouring an EK nonce/template in NV); certificate from
//    NV 0x01C00002 when present.
//  - ecc: the first ECC profile with a certificate in NV (L-2, H-2, H-3,
//    H-4), its persistent EK or one made with its template; without any
//    ECC certificate, the L-2 EK.
absl::StatusOr<Ek> LoadEk(TpmConnection& tpm, const AgentConfig& config);

// Sets ek->cert_der from config.ek_cert_file, else from the profile's NV
// index (left empty when the TPM has none). A certificate whose key is not
// the EK's is an error.
absl::Status ReadEkCertificate(TpmConnection& tpm, const AgentConfig& config, Ek* ek);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_EK_H_
