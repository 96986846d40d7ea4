// TPM2_ActivateCredential: the TPM opens a credential made for its EK and
// the AK, proving both live in it.
#ifndef TPMJOIN_SRC_AGENT_ACTIVATE_H_
#define TPMJOIN_SRC_AGENT_ACTIVATE_H_

#include "absl/status/statusor.h"
#include "src/agent/ek.h"
#include "src/agent/tss.h"
#include "src/common/bytes.h"

namespace tpmjoin::agent {

// Opens the credential with the AK and the EK. The EK is authorized by a
// PolicySecret(TPM_RH_ENDORSEMENT) policy session (low-range EKs) or its
// empty authValue in an HMAC session (high-range EKs, userWithAuth). With
// encrypt_response, that session is salted to the EK and encrypts the
// response, so the secret never crosses the TPM bus in clear.
absl::StatusOr<SecureBytes> ActivateCredential(ESYS_CONTEXT* esys, const Ek& ek, ESYS_TR ak,
                                               const TPM2B_ID_OBJECT& credential_blob,
                                               const TPM2B_ENCRYPTED_SECRET& secret,
                                               absl::string_view endorsement_auth,
                                               bool encrypt_response);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_ACTIVATE_H_
