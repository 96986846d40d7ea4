#include "src/agent/activate.h"

#include "src/common/errors.h"

namespace tpmjoin::agent {

absl::StatusOr<SecureBytes> ActivateCredential(ESYS_CONTEXT* esys, const Ek& ek, ESYS_TR ak,
                                               EkSession& session,
                                               absl::string_view endorsement_auth,
                                               const TPM2B_ID_OBJECT& credential_blob,
                                               const TPM2B_ENCRYPTED_SECRET& secret) {
  TPMJOIN_RETURN_IF_ERROR(session.PrepareUse(endorsement_auth, /*last_use=*/true));
  TPM2B_DIGEST* cert_info = nullptr;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_ActivateCredential(esys, ak, ek.handle.get(), ESYS_TR_PASSWORD, session.get(),
                                   ESYS_TR_NONE, &credential_blob, &secret, &cert_info);
  });
  EsysSecretPtr<TPM2B_DIGEST> owned(cert_info);
  // On failure the TPM keeps the session, and its owner flushes it.
  if (rc != TSS2_RC_SUCCESS) return TssError("TPM2_ActivateCredential", rc);
  session.Consumed();
  return SecureBytes(cert_info->buffer, cert_info->buffer + cert_info->size);
}

}  // namespace tpmjoin::agent
