#include "src/common/errors.h"

#include <openssl/err.h>

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace tpmjoin {
namespace {

constexpr absl::string_view kAbiCodeUrl = "tpmjoin.dev/abi-code";

absl::Status Make(absl::StatusCode code, AbiCode abi, absl::string_view message) {
  absl::Status status(code, message);
  status.SetPayload(kAbiCodeUrl, absl::Cord(std::to_string(static_cast<int>(abi))));
  return status;
}

}  // namespace

absl::Status InvalidArgumentError(absl::string_view m) {
  return Make(absl::StatusCode::kInvalidArgument, AbiCode::kInvalidArgument, m);
}
absl::Status BadMessageError(absl::string_view m) {
  return Make(absl::StatusCode::kInvalidArgument, AbiCode::kBadMessage, m);
}
absl::Status TpmError(absl::string_view m) {
  return Make(absl::StatusCode::kAborted, AbiCode::kTpm, m);
}
absl::Status TpmUnavailableError(absl::string_view m) {
  return Make(absl::StatusCode::kUnavailable, AbiCode::kTpmUnavailable, m);
}
absl::Status StateError(absl::string_view m) {
  return Make(absl::StatusCode::kFailedPrecondition, AbiCode::kState, m);
}
absl::Status DeniedError(absl::string_view m) {
  return Make(absl::StatusCode::kPermissionDenied, AbiCode::kDenied, m);
}
absl::Status InternalError(absl::string_view m) {
  return Make(absl::StatusCode::kInternal, AbiCode::kInternal, m);
}

AbiCode AbiCodeOf(const absl::Status& status) {
  if (status.ok()) return AbiCode::kOk;
  if (auto payload = status.GetPayload(kAbiCodeUrl)) {
    const std::string text(*payload);
    if (text.size() == 1 && text[0] >= '1' && text[0] <= '7') {
      return static_cast<AbiCode>(text[0] - '0');
    }
  }
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    return AbiCode::kInvalidArgument;
  }
  return AbiCode::kInternal;
}

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

void ClearOpensslErrors() { ERR_clear_error(); }

absl::Status OpensslError(AbiCode code, absl::string_view what) {
  std::string detail;
  unsigned long err;
  while ((err = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    absl::StrAppend(&detail, detail.empty() ? "" : "; ", buf);
  }
  std::string message(what);
  if (!detail.empty()) absl::StrAppend(&message, " (OpenSSL: ", detail, ")");
  return Make(code == AbiCode::kInvalidArgument ? absl::StatusCode::kInvalidArgument
                                                : absl::StatusCode::kInternal,
              code, message);
}

absl::Status OpensslError(absl::string_view what) {
  return OpensslError(AbiCode::kInternal, what);
}

}  // namespace tpmjoin
