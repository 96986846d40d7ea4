// Byte strings. SecureBytes wipes its memory whenever it is released
// (destruction, reallocation), for secrets: activation secrets, seeds,
// symmetric keys, passwords.
#ifndef TPMJOIN_SRC_COMMON_BYTES_H_
#define TPMJOIN_SRC_COMMON_BYTES_H_

#include <openssl/crypto.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/types/span.h"

namespace tpmjoin {

using Bytes = std::vector<uint8_t>;
using ByteSpan = absl::Span<const uint8_t>;

template <typename T>
struct CleansingAllocator {
  using value_type = T;
  CleansingAllocator() = default;
  template <typename U>
  CleansingAllocator(const CleansingAllocator<U>&) {}  // NOLINT
  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) {
    OPENSSL_cleanse(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  bool operator==(const CleansingAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const CleansingAllocator<U>&) const { return false; }
};

using SecureBytes = std::vector<uint8_t, CleansingAllocator<uint8_t>>;
using SecureString = std::basic_string<char, std::char_traits<char>, CleansingAllocator<char>>;

inline ByteSpan AsSpan(absl::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline absl::string_view AsStringView(ByteSpan b) {
  return absl::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}
inline Bytes ToBytes(absl::string_view s) { return Bytes(s.begin(), s.end()); }

// Copies the used part of a TPM2B (any struct with .size and .buffer).
template <typename TPM2B>
Bytes FromTpm2b(const TPM2B& b) {
  return Bytes(b.buffer, b.buffer + b.size);
}

// Fills a TPM2B; returns false when `data` does not fit.
template <typename TPM2B>
bool ToTpm2b(ByteSpan data, TPM2B* out) {
  if (data.size() > sizeof(out->buffer)) return false;
  out->size = static_cast<decltype(out->size)>(data.size());
  std::copy(data.begin(), data.end(), out->buffer);
  return true;
}

}  // namespace tpmjoin

#endif  // TPMJOIN_SRC_COMMON_BYTES_H_
