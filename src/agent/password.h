// Hierarchy passwords (config keys endorsement_auth, owner_auth).
//
// A std::basic_string keeps up to 15 characters inside the object itself
// (the small-string buffer), which no allocator ever sees: a cleansing
// allocator alone would never wipe a short password. A Password therefore
// reserves heap room for the longest password before it holds anything,
// and every copy does the same, so every byte of every copy lives in
// memory that CleansingAllocator wipes when it is released.
#ifndef TPMJOIN_SRC_AGENT_PASSWORD_H_
#define TPMJOIN_SRC_AGENT_PASSWORD_H_

#include <algorithm>
#include <cstddef>

#include "absl/strings/string_view.h"
#include "src/common/bytes.h"

namespace tpmjoin::agent {

class Password {
 public:
  // TPM2B_AUTH holds at most the largest digest (SHA-512).
  static constexpr size_t kMaxSize = 64;

  Password() { value_.reserve(kMaxSize + 1); }
  explicit Password(absl::string_view value) : Password() { Assign(value); }
  // Copies and moves both copy into this object's own heap buffer (a moved
  // string could bring a small-string buffer along); the source wipes its
  // own buffer when it goes.
  Password(const Password& other) : Password() { Assign(other.view()); }
  Password(Password&& other) : Password() { Assign(other.view()); }  // NOLINT: may allocate
  Password& operator=(const Password& other) {
    if (this != &other) Assign(other.view());
    return *this;
  }
  Password& operator=(Password&& other) { return *this = other; }  // NOLINT: copies

  // Replaces the value, in place (the buffer is overwritten, not freed).
  void Assign(absl::string_view value) {
    if (value.size() > value_.capacity()) value_.reserve(value.size());
    std::fill(value_.begin(), value_.end(), '\0');
    value_.assign(value.data(), value.size());
  }

  absl::string_view view() const { return absl::string_view(value_.data(), value_.size()); }
  operator absl::string_view() const { return view(); }  // NOLINT: passed as auth values
  bool empty() const { return value_.empty(); }
  size_t size() const { return value_.size(); }
  const char* begin() const { return value_.data(); }
  const char* end() const { return value_.data() + value_.size(); }

  // For tests: the characters are on the heap, not in the string object.
  bool OnHeap() const {
    const auto* self = reinterpret_cast<const char*>(&value_);
    return value_.data() < self || value_.data() >= self + sizeof(value_);
  }

 private:
  SecureString value_;
};

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_PASSWORD_H_
