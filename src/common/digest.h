// Hash algorithms by TPM algorithm id, and TPM object names.
#ifndef TPMJOIN_SRC_COMMON_DIGEST_H_
#define TPMJOIN_SRC_COMMON_DIGEST_H_

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include <initializer_list>

#include "absl/status/statusor.h"
#include "src/common/bytes.h"

namespace tpmjoin {

// SHA-1, SHA-256, SHA-384, SHA-512; nullptr for anything else.
const EVP_MD* EvpMdForTpmAlg(TPM2_ALG_ID alg);

// H(part0 || part1 || ...).
absl::StatusOr<Bytes> Digest(const EVP_MD* md, std::initializer_list<ByteSpan> parts);

// Name of an object: nameAlg (big-endian) || H_nameAlg(marshaled public).
// `marshaled` must be the TPMT_PUBLIC's marshaled bytes.
absl::StatusOr<Bytes> ObjectName(TPM2_ALG_ID name_alg, ByteSpan marshaled);

// Name of `pub` (marshals it first).
absl::StatusOr<Bytes> ObjectName(const TPMT_PUBLIC& pub);

// Constant-time equality (false on different lengths).
bool ConstantTimeEquals(ByteSpan a, ByteSpan b);

}  // namespace tpmjoin

#endif  // TPMJOIN_SRC_COMMON_DIGEST_H_
