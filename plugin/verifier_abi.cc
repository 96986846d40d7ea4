// The verifier half of the C ABI (abi/tpmjoin_verifier.h): each function
// checks its arguments, calls src/verifier, and reports through
// plugin::Call.
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "plugin/abi_call.h"
#include "src/verifier/ek_info.h"
#include "src/verifier/verifier.h"
#include "tpmjoin_verifier.h"

struct tpmjoin_verifier {
  std::unique_ptr<const tpmjoin::verifier::Verifier> impl;
};

struct tpmjoin_challenge {
  std::unique_ptr<tpmjoin::verifier::Challenge> impl;
};

namespace tpmjoin::plugin {
namespace {

absl::Status VerifierOpen(const char* policy_json, tpmjoin_verifier** out) {
  TPMJOIN_RETURN_IF_ERROR(RequireNonNull(out, "out"));
  *out = nullptr;
  TPMJOIN_RETURN_IF_ERROR(RequireNonNull(policy_json, "policy_json"));
  const size_t len = strnlen(policy_json, kMaxInputSize + 1);
  if (len > kMaxInputSize) {
    return InvalidArgumentError(absl::StrCat("policy_json is longer than ", kMaxInputSize));
  }
  TPMJOIN_ASSIGN_OR_RETURN(auto impl,
                           verifier::Verifier::New(absl::string_view(policy_json, len)));
  *out = new tpmjoin_verifier{std::move(impl)};
  return absl::OkStatus();
}

absl::Status VerifierChallenge(tpmjoin_verifier* v, const uint8_t* request, size_t request_len,
                               tpmjoin_challenge** out_state, tpmjoin_bytes* out_response) {
  TPMJOIN_RETURN_IF_ERROR(RequireNonNull(out_state, "out_state"));
  *out_state = nullptr;
  TPMJOIN_RETURN_IF_ERROR(PrepareOutput(out_response, "out_response"));
  TPMJOIN_RETURN_IF_ERROR(RequireNonNull(v, "v"));
  TPMJOIN_ASSIGN_OR_RETURN(const ByteSpan input, InputBytes(request, request_len, "request"));
  TPMJOIN_ASSIGN_OR_RETURN(verifier::IssuedChallenge issued, v->impl->NewChallenge(input));
  auto state = std::make_unique<tpmjoin_challenge>(tpmjoin_challenge{std::move(issued.challenge)});
  TPMJOIN_RETURN_IF_ERROR(SetOutput(issued.response, out_response));
  *out_state = state.release();
  return absl::OkStatus();
}

absl::Status VerifierFinish(tpmjoin_challenge* c, const uint8_t* request, size_t request_len,
                            tpmjoin_bytes* out_result_json) {
  TPMJOIN_RETURN_IF_ERROR(PrepareOutput(out_result_json, "out_result_json"));
  TPMJOIN_RETURN_IF_ERROR(RequireNonNull(c, "c"));
  TPMJOIN_ASSIGN_OR_RETURN(const ByteSpan input, InputBytes(request, request_len, "request"));
  TPMJOIN_ASSIGN_OR_RETURN(const std::string json, c->impl->Finish(input));
  return SetOutput(AsSpan(json), out_result_json);
}

absl::Status EkInfo(const uint8_t* der_or_pem, size_t len, tpmjoin_bytes* out_json) {
  TPMJOIN_RETURN_IF_ERROR(PrepareOutput(out_json, "out_json"));
  TPMJOIN_RETURN_IF_ERROR(RequireNonNull(der_or_pem, "der_or_pem"));
  if (len > kMaxInputSize) {  // a file, not a message: not BAD_MESSAGE
    return InvalidArgumentError(absl::StrCat("der_or_pem is ", len, " bytes, more than ",
                                             kMaxInputSize));
  }
  const ByteSpan input(der_or_pem, len);
  TPMJOIN_ASSIGN_OR_RETURN(const std::string json, verifier::DescribeEk(input));
  return SetOutput(AsSpan(json), out_json);
}

}  // namespace
}  // namespace tpmjoin::plugin

extern "C" {

TPMJOIN_EXPORT tpmjoin_status tpmjoin_verifier_open(const char* policy_json,
                                                    tpmjoin_verifier** out) {
  return tpmjoin::plugin::Call("tpmjoin_verifier_open",
                               [&] { return tpmjoin::plugin::VerifierOpen(policy_json, out); });
}

TPMJOIN_EXPORT tpmjoin_status tpmjoin_verifier_challenge(tpmjoin_verifier* v,
                                                         const uint8_t* request,
                                                         size_t request_len,
                                                         tpmjoin_challenge** out_state,
                                                         tpmjoin_bytes* out_response) {
  return tpmjoin::plugin::Call("tpmjoin_verifier_challenge", [&] {
    return tpmjoin::plugin::VerifierChallenge(v, request, request_len, out_state, out_response);
  });
}

TPMJOIN_EXPORT tpmjoin_status tpmjoin_verifier_finish(tpmjoin_challenge* c,
                                                      const uint8_t* request,
                                                      size_t request_len,
                                                      tpmjoin_bytes* out_result_json) {
  return tpmjoin::plugin::Call("tpmjoin_verifier_finish", [&] {
    return tpmjoin::plugin::VerifierFinish(c, request, request_len, out_result_json);
  });
}

TPMJOIN_EXPORT void tpmjoin_challenge_free(tpmjoin_challenge* c) { delete c; }

TPMJOIN_EXPORT void tpmjoin_verifier_close(tpmjoin_verifier* v) { delete v; }

TPMJOIN_EXPORT tpmjoin_status tpmjoin_ek_info(const uint8_t* der_or_pem, size_t len,
                                              tpmjoin_bytes* out_json) {
  return tpmjoin::plugin::Call("tpmjoin_ek_info",
                               [&] { return tpmjoin::plugin::EkInfo(der_or_pem, len, out_json); });
}

}  // extern "C"
