// Agent side of the C ABI (abi/tpmjoin.h): argument checks and status
// mapping around src/agent.
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "plugin/abi_call.h"
#include "src/agent/config.h"
#include "src/agent/identify.h"
#include "src/agent/join_session.h"

struct tpmjoin_session {
  std::unique_ptr<tpmjoin::agent::JoinSession> impl;
};

namespace tpmjoin::plugin {
namespace {

// NULL is the defaults; longer than kMaxInputSize is refused before
// parsing (as tpmjoin_verifier_open does).
absl::StatusOr<agent::AgentConfig> Config(const char* config_json) {
  if (config_json != nullptr && strnlen(config_json, kMaxInputSize + 1) > kMaxInputSize) {
    return InvalidArgumentError(absl::StrCat("config_json is longer than ", kMaxInputSize,
                                             " bytes"));
  }
  return Annotate(agent::ParseAgentConfig(config_json), "config");
}

// Ends the session's pending join, if any, when it goes out of scope:
// tpmjoin_join_respond ends it whatever the outcome, also when an argument
// is rejected.
class EndPendingJoin {
 public:
  explicit EndPendingJoin(tpmjoin_session* s) : s_(s) {}
  ~EndPendingJoin() {
    if (s_ != nullptr) s_->impl->Cancel();
  }
  EndPendingJoin(const EndPendingJoin&) = delete;
  EndPendingJoin& operator=(const EndPendingJoin&) = delete;

 private:
  tpmjoin_session* s_;
};

}  // namespace
}  // namespace tpmjoin::plugin

extern "C" {

using tpmjoin::plugin::Call;
using tpmjoin::plugin::InputBytes;
using tpmjoin::plugin::PrepareOutput;
using tpmjoin::plugin::RequireNonNull;
using tpmjoin::plugin::SetOutput;

TPMJOIN_EXPORT tpmjoin_status tpmjoin_session_open(const char* config_json,
                                                   tpmjoin_session** out) {
  return Call("tpmjoin_session_open", [&]() -> absl::Status {
    TPMJOIN_RETURN_IF_ERROR(RequireNonNull(out, "out"));
    *out = nullptr;
    TPMJOIN_ASSIGN_OR_RETURN(auto config, tpmjoin::plugin::Config(config_json));
    TPMJOIN_ASSIGN_OR_RETURN(auto impl, tpmjoin::agent::JoinSession::Open(std::move(config)));
    *out = new tpmjoin_session{std::move(impl)};
    return absl::OkStatus();
  });
}

TPMJOIN_EXPORT tpmjoin_status tpmjoin_join_begin(tpmjoin_session* s, const uint8_t* join_request,
                                                 size_t join_request_len, tpmjoin_bytes* out) {
  return Call("tpmjoin_join_begin", [&]() -> absl::Status {
    TPMJOIN_RETURN_IF_ERROR(PrepareOutput(out, "out"));
    TPMJOIN_RETURN_IF_ERROR(RequireNonNull(s, "session"));
    TPMJOIN_ASSIGN_OR_RETURN(auto input, InputBytes(join_request, join_request_len,
                                                    "join_request"));
    TPMJOIN_ASSIGN_OR_RETURN(auto message, s->impl->Begin(input));
    return SetOutput(message, out);
  });
}

TPMJOIN_EXPORT tpmjoin_status tpmjoin_join_respond(tpmjoin_session* s, const uint8_t* challenge,
                                                   size_t challenge_len, tpmjoin_bytes* out) {
  return Call("tpmjoin_join_respond", [&]() -> absl::Status {
    const tpmjoin::plugin::EndPendingJoin end_join(s);
    TPMJOIN_RETURN_IF_ERROR(PrepareOutput(out, "out"));
    TPMJOIN_RETURN_IF_ERROR(RequireNonNull(s, "session"));
    TPMJOIN_ASSIGN_OR_RETURN(auto input, InputBytes(challenge, challenge_len, "challenge"));
    TPMJOIN_ASSIGN_OR_RETURN(auto message, s->impl->Respond(input));
    return SetOutput(message, out);
  });
}

TPMJOIN_EXPORT void tpmjoin_session_close(tpmjoin_session* s) {
  // Destruction flushes; it never throws (TpmHandle::Reset ignores errors).
  delete s;
}

TPMJOIN_EXPORT tpmjoin_status tpmjoin_identify(const char* config_json, tpmjoin_bytes* out_json) {
  return Call("tpmjoin_identify", [&]() -> absl::Status {
    TPMJOIN_RETURN_IF_ERROR(PrepareOutput(out_json, "out_json"));
    TPMJOIN_ASSIGN_OR_RETURN(auto config, tpmjoin::plugin::Config(config_json));
    TPMJOIN_ASSIGN_OR_RETURN(std::string json, tpmjoin::agent::Identify(config));
    return SetOutput(tpmjoin::AsSpan(json), out_json);
  });
}

}  // extern "C"
