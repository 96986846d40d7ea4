#include "src/agent/ek_session.h"

#include <openssl/rand.h>

#include "src/common/errors.h"

namespace tpmjoin::agent {

absl::StatusOr<EkSession> EkSession::Start(ESYS_CONTEXT* esys, const Ek& ek, bool salted) {
  const TPMT_SYM_DEF symmetric = {TPM2_ALG_AES, {128}, {TPM2_ALG_CFB}};
  const bool policy = ek.needs_policy();
  // Our own nonce: ESAPI 3.2 would build a fresh OpenSSL library context to
  // draw it, which costs more than the rest of the command.
  TPM2B_NONCE nonce_caller = {};
  nonce_caller.size = 32;
  if (RAND_bytes(nonce_caller.buffer, nonce_caller.size) != 1) return OpensslError("RAND_bytes");
  ESYS_TR session = ESYS_TR_NONE;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_StartAuthSession(esys, salted ? ek.handle.get() : ESYS_TR_NONE, ESYS_TR_NONE,
                                 ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nonce_caller,
                                 policy ? TPM2_SE_POLICY : TPM2_SE_HMAC, &symmetric,
                                 TPM2_ALG_SHA256, &session);
  });
  if (rc != TSS2_RC_SUCCESS) {
    return TssError(salted ? "TPM2_StartAuthSession(salted to the EK)" : "TPM2_StartAuthSession",
                    rc);
  }
  return EkSession(esys, TpmHandle(esys, session, TpmHandle::Kind::kFlush), policy, salted);
}

absl::Status EkSession::PrepareUse(absl::string_view endorsement_auth, bool last_use) {
  // Only the last use (TPM2_ActivateCredential) returns a secret: encrypt
  // just that response.
  const TPMA_SESSION attributes = (salted_ && last_use ? TPMA_SESSION_ENCRYPT : 0) |
                                  (last_use ? 0 : TPMA_SESSION_CONTINUESESSION);
  TSS2_RC rc = Esys_TRSess_SetAttributes(esys_, handle_.get(), attributes, 0xff);
  if (rc != TSS2_RC_SUCCESS) return TssError("Esys_TRSess_SetAttributes", rc);
  if (!policy_) return absl::OkStatus();
  TPMJOIN_RETURN_IF_ERROR(SetAuth(esys_, ESYS_TR_RH_ENDORSEMENT, endorsement_auth));
  rc = WithRetry([&] {
    return Esys_PolicySecret(esys_, ESYS_TR_RH_ENDORSEMENT, handle_.get(), ESYS_TR_PASSWORD,
                             ESYS_TR_NONE, ESYS_TR_NONE, nullptr, nullptr, nullptr, 0, nullptr,
                             nullptr);
  });
  if (rc != TSS2_RC_SUCCESS) return TssError("TPM2_PolicySecret(TPM_RH_ENDORSEMENT)", rc);
  return absl::OkStatus();
}

}  // namespace tpmjoin::agent
