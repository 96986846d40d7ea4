// What the TCG EK Credential Profile fixes for each EK key type: the EK's
// nameAlg and symmetric algorithm, which MakeCredential must use because the
// TPM's ActivateCredential derives its keys with them (REFERENCE.md 4).
#ifndef TPMJOIN_SRC_VERIFIER_EK_PROFILE_H_
#define TPMJOIN_SRC_VERIFIER_EK_PROFILE_H_

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include <cstddef>

#include "absl/status/statusor.h"

namespace tpmjoin::verifier {

struct EkProfile {
  const char* key_type;    // KeyTypeName of the EK, e.g. "rsa2048"
  TPM2_ALG_ID name_alg;    // TPM2_ALG_SHA256 / SHA384 / SHA512
  size_t aes_key_bits;     // AES-CFB: 128 or 256
};

// The profile of `ek` (RSA 2048/3072/4096, ECC P-256/P-384/P-521); DENIED
// for any other key.
absl::StatusOr<EkProfile> EkProfileForKey(EVP_PKEY* ek);

const EVP_MD* ProfileDigest(const EkProfile& profile);
const EVP_CIPHER* ProfileCipher(const EkProfile& profile);  // AES-CFB128

}  // namespace tpmjoin::verifier

#endif  // TPMJOIN_SRC_VERIFIER_EK_PROFILE_H_
