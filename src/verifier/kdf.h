// The TPM's key derivation functions (TPM 2.0 Part 1, "Key Derivation
// Functions"). Labels are given without their terminating zero octet, which
// both functions append as the specification requires ("IDENTITY" is used
// as "IDENTITY\0").
#ifndef TPMJOIN_SRC_VERIFIER_KDF_H_
#define TPMJOIN_SRC_VERIFIER_KDF_H_

#include <openssl/evp.h>

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/common/bytes.h"

namespace tpmjoin::verifier {

// KDFa: SP 800-108 counter mode with HMAC-H:
//   K(i) = HMAC_H(key, [i]32 || label || 0x00 || context_u || context_v || [bits]32)
// Returns the first `bits` bits; `bits` must be a positive multiple of 8.
absl::StatusOr<SecureBytes> KDFa(const EVP_MD* md, ByteSpan key, absl::string_view label,
                                 ByteSpan context_u, ByteSpan context_v, size_t bits);

// KDFe: SP 800-56A concatenation KDF with H:
//   K(i) = H([i]32 || z || label || 0x00 || party_u || party_v)
// Returns the first `bits` bits; `bits` must be a positive multiple of 8.
absl::StatusOr<SecureBytes> KDFe(const EVP_MD* md, ByteSpan z, absl::string_view label,
                                 ByteSpan party_u, ByteSpan party_v, size_t bits);

}  // namespace tpmjoin::verifier

#endif  // TPMJOIN_SRC_VERIFIER_KDF_H_
