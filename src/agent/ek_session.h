// A session that authorizes uses of the EK (Create/Load of a child, and
// ActivateCredential): a policy session satisfying the low-range EK policy
// PolicySecret(TPM_RH_ENDORSEMENT), or, for high-range EKs (userWithAuth),
// an HMAC session with the EK's empty authValue. Salted to the EK itself,
// the session also encrypts the first response parameter of each use
// (TPMA_SESSION_ENCRYPT): ActivateCredential's recovered secret never
// crosses the TPM bus in clear.
#ifndef TPMJOIN_SRC_AGENT_EK_SESSION_H_
#define TPMJOIN_SRC_AGENT_EK_SESSION_H_

#include "absl/status/statusor.h"
#include "src/agent/ek.h"
#include "src/agent/tss.h"

namespace tpmjoin::agent {

class EkSession {
 public:
  // TPM2_StartAuthSession (salted to the EK when `salted`).
  static absl::StatusOr<EkSession> Start(ESYS_CONTEXT* esys, const Ek& ek, bool salted);

  // Readies the session for the next use of the EK: sets its attributes
  // (continueSession unless `last_use`) and, for a policy session, runs
  // TPM2_PolicySecret(TPM_RH_ENDORSEMENT) (the TPM resets a policy session
  // after each use).
  absl::Status PrepareUse(absl::string_view endorsement_auth, bool last_use);

  // Call after a successful last use: the TPM closed the session.
  void Consumed() { handle_.Forget(); }

  ESYS_TR get() const { return handle_.get(); }

 private:
  EkSession(ESYS_CONTEXT* esys, TpmHandle handle, bool policy, bool salted)
      : esys_(esys), handle_(std::move(handle)), policy_(policy), salted_(salted) {}

  ESYS_CONTEXT* esys_;
  TpmHandle handle_;  // flushed unless consumed
  bool policy_;
  bool salted_;
};

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_EK_SESSION_H_
