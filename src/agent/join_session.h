// A join session: one TPM connection running one join at a time
// (tpmjoin_session in the ABI).
#ifndef TPMJOIN_SRC_AGENT_JOIN_SESSION_H_
#define TPMJOIN_SRC_AGENT_JOIN_SESSION_H_

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "src/agent/ak.h"
#include "src/agent/ak_cache.h"
#include "src/agent/config.h"
#include "src/agent/ek.h"
#include "src/agent/ek_session.h"
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

  // Ends the pending join, if any (its AK and session are flushed).
  void Cancel();

 private:
  JoinSession(AgentConfig config, std::unique_ptr<TpmConnection> tpm);

  struct PendingJoin {
    Ak ak;
    // Open when Begin already used the EK (a child AK): Respond uses it.
    std::optional<EkSession> ek_session;
  };

  absl::StatusOr<Bytes> BeginJoin(ByteSpan join_request);
  absl::StatusOr<PendingJoin> PrimaryAkJoin();
  absl::StatusOr<PendingJoin> CachedAkJoin();
  absl::Status EnsureEkCertificate();
  absl::StatusOr<SecureBytes> AnswerChallenge(PendingJoin& pending, ByteSpan challenge);
  // Flushes the join's AK, noting a connection lost on the way.
  void EndJoin(PendingJoin& pending);

  // Once the connection is lost (or ESAPI's context is unusable after a
  // response failed its checks), every later call fails the same way
  // instead of with ESAPI's sequence errors.
  absl::Status CheckConnection() const;
  template <typename T>
  T Track(T result);

  // Members are destroyed in reverse order: the pending join's objects and
  // the EK are flushed before the connection closes.
  AgentConfig config_;
  std::optional<AkCache> cache_;
  std::unique_ptr<TpmConnection> tpm_;
  std::optional<Ek> ek_;               // found on the first Begin, kept for renewals
  bool ek_cert_known_ = false;         // ek_->cert_der is final (read, or none exists)
  std::optional<PendingJoin> pending_;
  bool connection_lost_ = false;
};

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_JOIN_SESSION_H_
