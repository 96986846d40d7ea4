#include "plugin/abi_call.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace tpmjoin::plugin {
namespace {

thread_local std::string last_error;

}  // namespace

tpmjoin_status Fail(absl::string_view function, const absl::Status& status) {
  try {
    last_error = absl::StrCat(function, ": ", status.message());
  } catch (...) {
    last_error.clear();
  }
  return static_cast<tpmjoin_status>(AbiCodeOf(status));
}

absl::Status RequireNonNull(const void* p, absl::string_view name) {
  if (p == nullptr) return InvalidArgumentError(absl::StrCat(name, " is NULL"));
  return absl::OkStatus();
}

absl::StatusOr<ByteSpan> InputBytes(const uint8_t* data, size_t len, absl::string_view name) {
  if (data == nullptr && len != 0) {
    return InvalidArgumentError(absl::StrCat(name, " is NULL but its length is ", len));
  }
  if (len > kMaxInputSize) {
    return BadMessageError(absl::StrCat(name, " is ", len, " bytes, more than the limit of ",
                                        kMaxInputSize));
  }
  return ByteSpan(data, len);
}

absl::Status PrepareOutput(tpmjoin_bytes* out, absl::string_view name) {
  TPMJOIN_RETURN_IF_ERROR(RequireNonNull(out, name));
  out->data = nullptr;
  out->len = 0;
  return absl::OkStatus();
}

absl::Status SetOutput(ByteSpan data, tpmjoin_bytes* out) {
  // Always allocate at least one byte so that a successful output is never
  // a NULL pointer.
  auto* buffer = static_cast<uint8_t*>(std::malloc(data.empty() ? 1 : data.size()));
  if (buffer == nullptr) return InternalError("out of memory");
  if (!data.empty()) std::memcpy(buffer, data.data(), data.size());
  out->data = buffer;
  out->len = data.size();
  return absl::OkStatus();
}

}  // namespace tpmjoin::plugin

extern "C" {

TPMJOIN_EXPORT uint32_t tpmjoin_abi_version(void) { return TPMJOIN_ABI_VERSION; }

TPMJOIN_EXPORT const char* tpmjoin_last_error(void) {
  return tpmjoin::plugin::last_error.c_str();
}

TPMJOIN_EXPORT void tpmjoin_bytes_free(tpmjoin_bytes* b) {
  if (b == nullptr) return;
  if (b->data != nullptr) {
    OPENSSL_cleanse(b->data, b->len);
    std::free(b->data);
  }
  b->data = nullptr;
  b->len = 0;
}

}  // extern "C"
