#include "src/common/digest.h"

#include <openssl/crypto.h>

#include "absl/strings/str_cat.h"
#include "src/common/errors.h"
#include "src/common/ossl.h"
#include "src/common/tpm_mu.h"

namespace tpmjoin {

const EVP_MD* EvpMdForTpmAlg(TPM2_ALG_ID alg) {
  switch (alg) {
    case TPM2_ALG_SHA1:
      return EVP_sha1();
    case TPM2_ALG_SHA256:
      return EVP_sha256();
    case TPM2_ALG_SHA384:
      return EVP_sha384();
    case TPM2_ALG_SHA512:
      return EVP_sha512();
    default:
      return nullptr;
  }
}

absl::StatusOr<Bytes> Digest(const EVP_MD* md, std::initializer_list<ByteSpan> parts) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) {
    return OpensslError("EVP_DigestInit_ex");
  }
  for (ByteSpan part : parts) {
    if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) {
      return OpensslError("EVP_DigestUpdate");
    }
  }
  Bytes out(EVP_MD_get_size(md));
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1) {
    return OpensslError("EVP_DigestFinal_ex");
  }
  out.resize(len);
  return out;
}

absl::StatusOr<Bytes> ObjectName(TPM2_ALG_ID name_alg, ByteSpan marshaled) {
  const EVP_MD* md = EvpMdForTpmAlg(name_alg);
  if (md == nullptr) {
    return BadMessageError(absl::StrCat("unsupported nameAlg 0x", absl::Hex(name_alg)));
  }
  TPMJOIN_ASSIGN_OR_RETURN(Bytes digest, Digest(md, {marshaled}));
  Bytes name = {static_cast<uint8_t>(name_alg >> 8), static_cast<uint8_t>(name_alg)};
  name.insert(name.end(), digest.begin(), digest.end());
  return name;
}

absl::StatusOr<Bytes> ObjectName(const TPMT_PUBLIC& pub) {
  TPMJOIN_ASSIGN_OR_RETURN(Bytes marshaled, Marshal(pub));
  return ObjectName(pub.nameAlg, marshaled);
}

bool ConstantTimeEquals(ByteSpan a, ByteSpan b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tpmjoin
