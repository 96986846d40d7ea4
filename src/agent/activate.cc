#include "src/agent/activate.h"

#include <openssl/crypto.h>

#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

// ESAPI unmarshals TPM2_ActivateCredential's response (decrypted in place
// when the session encrypts it) from the SAPI context's buffer, and leaves
// it there until the next command overwrites part of it, and in freed
// memory after Esys_Finalize. Wipe the response parameters: they hold the
// recovered secret.
void WipeResponseParameters(ESYS_CONTEXT* esys) {
  const absl::Span<uint8_t> parameters = LastResponseParameters(esys);
  if (!parameters.empty()) OPENSSL_cleanse(parameters.data(), parameters.size());
}

// Esys_ActivateCredential's callees (ESAPI's unmarshalling, OpenSSL's AES
// decryption of the response) leave the secret in their stack frames, dead
// once they return but intact until something overwrites them. Overwrite
// the stack below the caller's frame.
__attribute__((noinline)) void WipeStackBelow() {
  unsigned char frames[32 * 1024];
  OPENSSL_cleanse(frames, sizeof(frames));
}

}  // namespace

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
  WipeResponseParameters(esys);
  WipeStackBelow();
  // On failure the TPM keeps the session, and its owner flushes it.
  if (rc != TSS2_RC_SUCCESS) return TssError("TPM2_ActivateCredential", rc);
  session.Consumed();
  return SecureBytes(cert_info->buffer, cert_info->buffer + cert_info->size);
}

}  // namespace tpmjoin::agent
