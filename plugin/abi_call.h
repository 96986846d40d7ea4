// The one mechanical shim every exported function goes through: check
// arguments, call into src/, turn the absl::Status into a tpmjoin_status and
// the thread-local last-error message. No exception crosses the ABI.
#ifndef TPMJOIN_PLUGIN_ABI_CALL_H_
#define TPMJOIN_PLUGIN_ABI_CALL_H_

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/common/bytes.h"
#include "src/common/errors.h"
#include "tpmjoin.h"

namespace tpmjoin::plugin {

// Largest message any call accepts (Teleport's messages are a few KiB).
inline constexpr size_t kMaxInputSize = 1 << 20;

// Records `status` (not OK) as the calling thread's last error, prefixed
// with the ABI function's name, and returns its ABI code.
tpmjoin_status Fail(absl::string_view function, const absl::Status& status);

// Runs `body` (returning absl::Status) for the ABI function `function`.
template <typename Body>
tpmjoin_status Call(absl::string_view function, Body&& body) noexcept {
  try {
    const absl::Status status = body();
    if (status.ok()) return TPMJOIN_OK;
    return Fail(function, status);
  } catch (const std::bad_alloc&) {
    return Fail(function, InternalError("out of memory"));
  } catch (const std::exception& e) {
    return Fail(function, InternalError(e.what()));
  } catch (...) {
    return Fail(function, InternalError("unexpected exception"));
  }
}

// INVALID_ARGUMENT naming `name` when p is NULL.
absl::Status RequireNonNull(const void* p, absl::string_view name);

// A (pointer, length) input: NULL is allowed only with length 0; larger
// than kMaxInputSize is BAD_MESSAGE.
absl::StatusOr<ByteSpan> InputBytes(const uint8_t* data, size_t len, absl::string_view name);

// Zeroes *out (so that it is zeroed on every failure path).
absl::Status PrepareOutput(tpmjoin_bytes* out, absl::string_view name);

// Copies `data` into a library-allocated *out.
absl::Status SetOutput(ByteSpan data, tpmjoin_bytes* out);

}  // namespace tpmjoin::plugin

#endif  // TPMJOIN_PLUGIN_ABI_CALL_H_
