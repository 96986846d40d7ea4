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
// restricted | sign: RSA-2048 RSASSA-SHA256 or P-256 ECDSA-SHA256. For a
// primary key, `random_unique` makes every AK fresh (a primary key is
// derived from its template).
absl::StatusOr<TPM2B_PUBLIC> AkTemplate(KeyAlgorithm algorithm, bool random_unique);

// Creates a fresh AK as a primary key in the owner hierarchy (one command,
// the AK stays loaded) and certifies its creation. Such an AK cannot be
// kept between processes; it is what a join without ak_cache_dir uses.
absl::StatusOr<Ak> CreatePrimaryAk(ESYS_CONTEXT* esys, KeyAlgorithm algorithm,
                                   absl::string_view owner_auth);

// An AK that can be stored: a child of the EK (TPM2_Create), its private
// part sealed by the EK, so it loads only into this TPM and only while the
// endorsement seed is unchanged.
struct StorableAk {
  Ak ak;                  // loaded and certified
  TPM2B_PUBLIC public_area;
  TPM2B_PRIVATE private_area;
};

class EkSession;
struct Ek;

// TPM2_Create under the EK, TPM2_Load, and TPM2_CertifyCreation. `session`
// authorizes both uses of the EK and stays open.
absl::StatusOr<StorableAk> CreateChildAk(ESYS_CONTEXT* esys, const Ek& ek, EkSession& session,
                                         absl::string_view endorsement_auth,
                                         KeyAlgorithm algorithm);

// TPM2_Load of a stored child AK under the EK. `session` stays open. On
// failure, `*blob_refused` (when given) says whether TPM2_Load itself
// refused the public or private area: the stored AK can never load under
// this EK. Any other failure (the EK's authorization, the connection, no
// free object slot) says nothing about the stored AK.
absl::StatusOr<TpmHandle> LoadChildAk(ESYS_CONTEXT* esys, const Ek& ek, EkSession& session,
                                      absl::string_view endorsement_auth,
                                      const TPM2B_PUBLIC& public_area,
                                      const TPM2B_PRIVATE& private_area,
                                      bool* blob_refused = nullptr);

// TPM2_CertifyCreation by the AK over its own creation.
absl::StatusOr<AkAttestation> CertifyAkCreation(ESYS_CONTEXT* esys, ESYS_TR ak,
                                                const TPM2B_PUBLIC& ak_public,
                                                const TPM2B_CREATION_DATA& creation_data,
                                                const TPM2B_DIGEST& creation_hash,
                                                const TPMT_TK_CREATION& creation_ticket);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_AK_H_
