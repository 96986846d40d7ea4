#include "src/verifier/kdf.h"

#include <openssl/hmac.h>

#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "src/common/errors.h"
#include "src/common/ossl.h"

namespace tpmjoin::verifier {
namespace {

constexpr size_t kCounterSize = 4;

void PutBigEndian32(uint32_t v, uint8_t* out) {
  out[0] = static_cast<uint8_t>(v >> 24);
  out[1] = static_cast<uint8_t>(v >> 16);
  out[2] = static_cast<uint8_t>(v >> 8);
  out[3] = static_cast<uint8_t>(v);
}

// [counter placeholder]32 || parts..., in memory that is wiped when freed.
SecureBytes CounterPrefixed(std::initializer_list<ByteSpan> parts) {
  SecureBytes out(kCounterSize, 0);
  for (ByteSpan part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

// The counter loop both KDFs share: block i (from 1) is block_fn(message)
// with [i]32 written at the start of `message`, concatenated until `bits`
// bits are produced.
template <typename BlockFn>
absl::StatusOr<SecureBytes> CounterMode(const EVP_MD* md, size_t bits, SecureBytes message,
                                        BlockFn block_fn) {
  if (md == nullptr) return InternalError("KDF: no hash algorithm");
  if (bits == 0 || bits % 8 != 0) {
    return InternalError(absl::StrCat("KDF: ", bits, " bits is not a positive multiple of 8"));
  }
  const size_t digest_size = static_cast<size_t>(EVP_MD_get_size(md));
  const size_t size = bits / 8;
  SecureBytes out(size + digest_size);
  uint32_t counter = 1;
  for (size_t done = 0; done < size; done += digest_size, ++counter) {
    PutBigEndian32(counter, message.data());
    TPMJOIN_RETURN_IF_ERROR(block_fn(message, out.data() + done));
  }
  out.resize(size);
  return out;
}

ByteSpan LabelWithZero(absl::string_view label, SecureBytes* storage) {
  storage->assign(label.begin(), label.end());
  storage->push_back(0);
  return *storage;
}

}  // namespace

absl::StatusOr<SecureBytes> KDFa(const EVP_MD* md, ByteSpan key, absl::string_view label,
                                 ByteSpan context_u, ByteSpan context_v, size_t bits) {
  SecureBytes label_storage;
  uint8_t length[kCounterSize];
  PutBigEndian32(static_cast<uint32_t>(bits), length);
  SecureBytes message = CounterPrefixed(
      {LabelWithZero(label, &label_storage), context_u, context_v, ByteSpan(length)});
  return CounterMode(md, bits, std::move(message),
                     [&](const SecureBytes& m, uint8_t* out) -> absl::Status {
                       unsigned int len = 0;
                       if (HMAC(md, key.data(), static_cast<int>(key.size()), m.data(),
                                m.size(), out, &len) == nullptr) {
                         return OpensslError("HMAC");
                       }
                       return absl::OkStatus();
                     });
}

absl::StatusOr<SecureBytes> KDFe(const EVP_MD* md, ByteSpan z, absl::string_view label,
                                 ByteSpan party_u, ByteSpan party_v, size_t bits) {
  SecureBytes label_storage;
  SecureBytes message =
      CounterPrefixed({z, LabelWithZero(label, &label_storage), party_u, party_v});
  return CounterMode(md, bits, std::move(message),
                     [&](const SecureBytes& m, uint8_t* out) -> absl::Status {
                       if (EVP_Digest(m.data(), m.size(), out, nullptr, md, nullptr) != 1) {
                         return OpensslError("EVP_Digest");
                       }
                       return absl::OkStatus();
                     });
}

}  // namespace tpmjoin::verifier
