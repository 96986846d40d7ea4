#include "src/agent/activate.h"

#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

// A session to authorize the EK; salted to the EK itself when it must also
// encrypt the response.
absl::StatusOr<TpmHandle> StartEkSession(ESYS_CONTEXT* esys, const Ek& ek, bool salted,
                                         absl::string_view endorsement_auth) {
  const TPMT_SYM_DEF symmetric = {TPM2_ALG_AES, {128}, {TPM2_ALG_CFB}};
  const TPM2_SE type = ek.needs_policy() ? TPM2_SE_POLICY : TPM2_SE_HMAC;
  ESYS_TR session = ESYS_TR_NONE;
  TSS2_RC rc = WithRetry([&] {
    return Esys_StartAuthSession(esys, salted ? ek.handle.get() : ESYS_TR_NONE, ESYS_TR_NONE,
                                 ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr, type,
                                 &symmetric, TPM2_ALG_SHA256, &session);
  });
  if (rc != TSS2_RC_SUCCESS) {
    return TssError(salted ? "TPM2_StartAuthSession(salted to the EK)" : "TPM2_StartAuthSession",
                    rc);
  }
  TpmHandle owned(esys, session, TpmHandle::Kind::kFlush);
  // Used once: no continueSession, so the TPM closes it after the command.
  const TPMA_SESSION attributes = salted ? TPMA_SESSION_ENCRYPT : 0;
  rc = Esys_TRSess_SetAttributes(esys, session, attributes, 0xff);
  if (rc != TSS2_RC_SUCCESS) return TssError("Esys_TRSess_SetAttributes", rc);
  if (type == TPM2_SE_POLICY) {
    TPMJOIN_RETURN_IF_ERROR(SetAuth(esys, ESYS_TR_RH_ENDORSEMENT, endorsement_auth));
    rc = WithRetry([&] {
      return Esys_PolicySecret(esys, ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD,
                               ESYS_TR_NONE, ESYS_TR_NONE, nullptr, nullptr, nullptr, 0, nullptr,
                               nullptr);
    });
    if (rc != TSS2_RC_SUCCESS) return TssError("TPM2_PolicySecret(TPM_RH_ENDORSEMENT)", rc);
  }
  return owned;
}

}  // namespace

absl::StatusOr<SecureBytes> ActivateCredential(ESYS_CONTEXT* esys, const Ek& ek, ESYS_TR ak,
                                               const TPM2B_ID_OBJECT& credential_blob,
                                               const TPM2B_ENCRYPTED_SECRET& secret,
                                               absl::string_view endorsement_auth,
                                               bool encrypt_response) {
  TPMJOIN_ASSIGN_OR_RETURN(TpmHandle session,
                           StartEkSession(esys, ek, encrypt_response, endorsement_auth));
  TPM2B_DIGEST* cert_info = nullptr;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_ActivateCredential(esys, ak, ek.handle.get(), ESYS_TR_PASSWORD, session.get(),
                                   ESYS_TR_NONE, &credential_blob, &secret, &cert_info);
  });
  EsysSecretPtr<TPM2B_DIGEST> owned(cert_info);
  if (rc != TSS2_RC_SUCCESS) {
    // On failure the TPM keeps the session; `session` flushes it.
    return TssError("TPM2_ActivateCredential", rc);
  }
  session.Forget();  // consumed: the TPM closed it, and ESAPI forgot it
  return SecureBytes(cert_info->buffer, cert_info->buffer + cert_info->size);
}

}  // namespace tpmjoin::agent
