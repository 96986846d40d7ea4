// The Attestation Key: a restricted signing key made in the TPM, and the
// TPM's proof of that (TPM2_CertifyCreation, the AK signing its own
// creation).
#ifndef TPMJOIN_SRC_AGENT_AK_H_
#define TPMJOIN_SRC_AGENT_AK_H_

#include "absl/status/statusor.h"
#include "src/agent/config.h"
#include "src/agent/tss.h"
#include "src/common/bytes.h"

namespace tpmjoin::agent {

// The four fields of TPMAttestationParameters, as bare TPM structures.
struct AkAttestation {
  Bytes public_area;         // TPMT_PUBLIC
  Bytes creation_data;       // TPMS_CREATION_DATA
  Bytes attestation;         // TPMS_ATTEST
  Bytes signature;           // TPMT_SIGNATURE
};

struct Ak {
  TpmHandle handle;          // loaded transient object, flushed by its owner
  AkAttestation attestation;
};

// fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | noDA |
// restricted | sign: RSA-2048 RSASSA-SHA256 or P-256 ECDSA-SHA256, with a
// random unique field so every AK is fresh.
absl::StatusOr<TPM2B_PUBLIC> AkTemplate(KeyAlgorithm algorithm);

// Creates a fresh AK as a primary key in the owner hierarchy (one command,
// the AK stays loaded) and certifies its creation.
absl::StatusOr<Ak> CreatePrimaryAk(ESYS_CONTEXT* esys, KeyAlgorithm algorithm,
                                   absl::string_view owner_auth);

// TPM2_CertifyCreation by the AK over its own creation.
absl::StatusOr<AkAttestation> CertifyAkCreation(ESYS_CONTEXT* esys, ESYS_TR ak,
                                                const TPM2B_PUBLIC& ak_public,
                                                const TPM2B_CREATION_DATA& creation_data,
                                                const TPM2B_DIGEST& creation_hash,
                                                const TPMT_TK_CREATION& creation_ticket);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_AK_H_
