// TPM2_ActivateCredential: the TPM opens a credential made for its EK and
// the AK, proving both live in it.
#ifndef TPMJOIN_SRC_AGENT_ACTIVATE_H_
#define TPMJOIN_SRC_AGENT_ACTIVATE_H_

#include "absl/status/statusor.h"
#include "src/agent/ek.h"
#include "src/agent/ek_session.h"
#include "src/common/bytes.h"

namespace tpmjoin::agent {

// Opens the credential with the AK and the EK, the EK authorized by
// `session` (its last use: the TPM closes it on success).
absl::StatusOr<SecureBytes> ActivateCredential(ESYS_CONTEXT* esys, const Ek& ek, ESYS_TR ak,
                                               EkSession& session,
                                               absl::string_view endorsement_auth,
                                               const TPM2B_ID_OBJECT& credential_blob,
                                               const TPM2B_ENCRYPTED_SECRET& secret);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_ACTIVATE_H_
