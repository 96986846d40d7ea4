// Error vocabulary shared by every part of libtpmjoin.
//
// Internally everything returns absl::Status. Each error carries the ABI
// status it maps to (tpmjoin_status) as a payload, so that annotating a
// status on its way up ("begin: ") never changes what the caller sees.
#ifndef TPMJOIN_SRC_COMMON_ERRORS_H_
#define TPMJOIN_SRC_COMMON_ERRORS_H_

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tpmjoin {

// Mirrors tpmjoin_status in abi/tpmjoin.h (values are the ABI's).
enum class AbiCode : int {
  kOk = 0,
  kInvalidArgument = 1,
  kBadMessage = 2,
  kTpm = 3,
  kTpmUnavailable = 4,
  kState = 5,
  kDenied = 6,
  kInternal = 7,
};

absl::Status InvalidArgumentError(absl::string_view message);
absl::Status BadMessageError(absl::string_view message);
absl::Status TpmError(absl::string_view message);
absl::Status TpmUnavailableError(absl::string_view message);
absl::Status StateError(absl::string_view message);
absl::Status DeniedError(absl::string_view message);
absl::Status InternalError(absl::string_view message);

// The ABI code a status maps to. Statuses made by the constructors above map
// to their own code; any other absl::Status maps by its absl code
// (kInvalidArgument -> INVALID_ARGUMENT, everything else -> INTERNAL).
AbiCode AbiCodeOf(const absl::Status& status);

// Returns `status` with "context: " prepended to its message; code and
// payloads are kept. OK stays OK.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

// Same for a StatusOr: the value passes through untouched.
template <typename T>
absl::StatusOr<T> Annotate(absl::StatusOr<T> value, absl::string_view context) {
  if (value.ok()) return value;
  return Annotate(value.status(), context);
}

// Builds an INTERNAL status naming the failed OpenSSL operation and draining
// OpenSSL's thread-local error queue into the message.
absl::Status OpensslError(absl::string_view what);

// Same, with a chosen ABI code (e.g. BAD_MESSAGE when OpenSSL rejects bytes
// that came from the network).
absl::Status OpensslError(AbiCode code, absl::string_view what);

// Drains OpenSSL's error queue (so stale errors never leak into a later
// message).
void ClearOpensslErrors();

}  // namespace tpmjoin

// Evaluates an expression returning absl::Status and returns it from the
// enclosing function when it is not OK.
#define TPMJOIN_RETURN_IF_ERROR(expr)               \
  do {                                              \
    ::absl::Status tpmjoin_status_ = (expr);        \
    if (!tpmjoin_status_.ok()) return tpmjoin_status_; \
  } while (0)

#define TPMJOIN_CONCAT_INNER_(a, b) a##b
#define TPMJOIN_CONCAT_(a, b) TPMJOIN_CONCAT_INNER_(a, b)

// Evaluates an expression returning absl::StatusOr<T>; on error returns the
// status, else moves the value into `lhs` (which may be a declaration).
#define TPMJOIN_ASSIGN_OR_RETURN(lhs, expr) \
  TPMJOIN_ASSIGN_OR_RETURN_IMPL_(TPMJOIN_CONCAT_(tpmjoin_statusor_, __LINE__), lhs, expr)

#define TPMJOIN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

#endif  // TPMJOIN_SRC_COMMON_ERRORS_H_
