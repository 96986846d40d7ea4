// A join session: one TPM connection running one join at a time
// (tpmjoin_session in the ABI).
#ifndef TPMJOIN_SRC_AGENT_JOIN_SESSION_H_
#define TPMJOIN_SRC_AGENT_JOIN_SESSION_H_

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "src/agent/ak.h"
#include "src/agent/config.h"
#include "src/agent/ek.h"
#include "src/agent/tss.h"
#include "src/common/bytes.h"

namespace tpmjoin::agent {

class JoinSession {
 public:
  // Connects to the TPM named by the config.
  static absl::StatusOr<std::unique_ptr<JoinSession>> Open(AgentConfig config);

  // Returns a serialized RegisterUsingTPMMethodRequest with `init`.
  // STATE when a join is already pending.
  absl::StatusOr<Bytes> Begin(ByteSpan join_request);

  // Takes a serialized RegisterUsingTPMMethodResponse with
  // `challenge_request`; returns a serialized RegisterUsingTPMMethodRequest
  // with `challenge_response`. Ends the pending join whatever the outcome.
  // STATE when no join is pending.
  absl::StatusOr<SecureBytes> Respond(ByteSpan challenge);

  // Ends the pending join, if any (its AK is flushed).
  void Cancel() { pending_.reset(); }

  // Declared last so that they are destroyed first: objects are flushed
  // before the connection closes.
  ~JoinSession() = default;

 private:
  JoinSession(AgentConfig config, std::unique_ptr<TpmConnection> tpm)
      : config_(std::move(config)), tpm_(std::move(tpm)) {}

  struct PendingJoin {
    Ak ak;
  };

  absl::StatusOr<Bytes> BeginJoin(ByteSpan join_request);
  absl::StatusOr<SecureBytes> AnswerChallenge(const PendingJoin& pending, ByteSpan challenge);

  // Once the connection is lost, ESAPI's context is unusable: every later
  // call fails the same way instead of with ESAPI's sequence errors.
  absl::Status CheckConnection() const;
  template <typename T>
  T Track(T result);
  bool connection_lost_ = false;

  AgentConfig config_;
  std::unique_ptr<TpmConnection> tpm_;
  std::optional<Ek> ek_;             // found on the first Begin, kept for renewals
  std::optional<PendingJoin> pending_;
};

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_JOIN_SESSION_H_
