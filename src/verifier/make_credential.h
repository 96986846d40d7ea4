// TPM2_MakeCredential in software (TPM 2.0 Part 1, "Credential
// Protection"; REFERENCE.md section 5): protects a credential so that only
// the TPM holding the EK, with the object named `ak_name` loaded, can
// recover it with TPM2_ActivateCredential.
#ifndef TPMJOIN_SRC_VERIFIER_MAKE_CREDENTIAL_H_
#define TPMJOIN_SRC_VERIFIER_MAKE_CREDENTIAL_H_

#include <openssl/evp.h>

#include "absl/status/statusor.h"
#include "src/common/bytes.h"
#include "src/verifier/ek_profile.h"

namespace tpmjoin::verifier {

// As Teleport sends them: each with its 2-byte TPM2B size prefix.
struct EncryptedCredential {
  Bytes credential_blob;  // TPM2B_ID_OBJECT
  Bytes secret;           // TPM2B_ENCRYPTED_SECRET
};

// Protects `credential` (at most the nameAlg's digest size) for `ek` with a
// fresh seed: RSA EKs get RSA-OAEP(H, "IDENTITY\0") of random bytes, ECC EKs
// an ephemeral ECDH key on the EK's curve. nameAlg and AES key size come
// from the EK profile.
absl::StatusOr<EncryptedCredential> MakeCredential(EVP_PKEY* ek, const EkProfile& profile,
                                                   ByteSpan ak_name, ByteSpan credential);

// Deterministic parts, for known-answer tests.
//
// RSA EK with a chosen seed (the OAEP encryption of it stays randomized).
absl::StatusOr<EncryptedCredential> MakeCredentialWithRsaSeed(EVP_PKEY* ek,
                                                              const EkProfile& profile,
                                                              ByteSpan ak_name,
                                                              ByteSpan credential,
                                                              ByteSpan seed);
// ECC EK with a chosen ephemeral key pair (on the EK's curve).
absl::StatusOr<EncryptedCredential> MakeCredentialWithEphemeralKey(EVP_PKEY* ek,
                                                                   const EkProfile& profile,
                                                                   ByteSpan ak_name,
                                                                   ByteSpan credential,
                                                                   EVP_PKEY* ephemeral);
// The symmetric part: the TPM2B_ID_OBJECT for a given seed (steps 2-5).
absl::StatusOr<Bytes> ProtectCredential(const EkProfile& profile, ByteSpan seed,
                                        ByteSpan ak_name, ByteSpan credential);

}  // namespace tpmjoin::verifier

#endif  // TPMJOIN_SRC_VERIFIER_MAKE_CREDENTIAL_H_
