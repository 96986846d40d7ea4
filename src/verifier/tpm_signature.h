// Checking a TPMT_SIGNATURE (RSASSA-PKCS1-v1_5 or ECDSA) with OpenSSL.
#ifndef TPMJOIN_SRC_VERIFIER_TPM_SIGNATURE_H_
#define TPMJOIN_SRC_VERIFIER_TPM_SIGNATURE_H_

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "src/common/bytes.h"

namespace tpmjoin::verifier {

// SHA-256, SHA-384 or SHA-512: the hashes a join accepts.
bool IsAcceptedHash(TPM2_ALG_ID alg);

// "sha256", "sha384", "sha512", else "0x...".
std::string HashName(TPM2_ALG_ID alg);

// Verifies `signature` (sigAlg TPM2_ALG_RSASSA or TPM2_ALG_ECDSA, hash one of
// IsAcceptedHash) over `data` with `key`. The caller has checked that the
// algorithm suits the key. DENIED when the signature is empty, has the wrong
// size for the key, or does not verify.
absl::Status VerifyTpmSignature(EVP_PKEY* key, const TPMT_SIGNATURE& signature, ByteSpan data);

}  // namespace tpmjoin::verifier

#endif  // TPMJOIN_SRC_VERIFIER_TPM_SIGNATURE_H_
