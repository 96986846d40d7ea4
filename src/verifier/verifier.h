// The server side of a TPM join (abi/tpmjoin_verifier.h): a Verifier holds
// an immutable policy and judges init requests; each request that passes
// gets a Challenge holding the secret until the agent answers.
//
//   absl::StatusOr<std::unique_ptr<Verifier>> v = Verifier::New(policy_json);
//   absl::StatusOr<IssuedChallenge> issued = (*v)->NewChallenge(init_request);
//   ... send issued->response, receive the answer ...
//   absl::StatusOr<std::string> result_json = issued->challenge->Finish(answer);
#ifndef TPMJOIN_SRC_VERIFIER_VERIFIER_H_
#define TPMJOIN_SRC_VERIFIER_VERIFIER_H_

#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/common/bytes.h"
#include "src/verifier/cert_chain.h"
#include "src/verifier/ek_cache.h"
#include "src/verifier/policy.h"

namespace tpmjoin::verifier {

// Internal knobs, not reachable through the C ABI.
struct VerifierOptions {
  // The time at which EK certificates must be valid; unset: the current
  // time of each check. Lets tests verify real certificates that have since
  // expired.
  std::optional<time_t> verification_time;
  // Otherwise the clock (tests move time forward); unset: time(nullptr).
  std::function<time_t()> clock;
  // The cache of verified EKs (ek_cache.h): entries, and how long one may be
  // reused before its chain is verified again. Capacity 0 turns it off.
  size_t ek_cache_capacity = 4096;
  time_t ek_cache_max_age = 3600;
};

// What a finished join reports (the result JSON).
struct JoinResult {
  std::string ek_pub_hash;
  std::string ek_cert_serial;  // "" without a certificate
  bool ek_cert_verified = false;
  std::string matched_rule;
  std::string tpm_manufacturer;
  std::string tpm_model;
  std::string tpm_version;
  std::string ak_algorithm;
  Bytes join_request;

  std::string ToJson() const;
};

// The state of one issued challenge. Holds the secret (wiped on the first
// Finish and on destruction), never the Verifier. Use from one thread at a
// time.
class Challenge {
 public:
  Challenge(SecureBytes secret, JoinResult result)
      : secret_(std::move(secret)), result_(std::move(result)) {}
  Challenge(const Challenge&) = delete;
  Challenge& operator=(const Challenge&) = delete;

  // Checks a serialized RegisterUsingTPMMethodRequest with
  // challenge_response: the solution must equal the secret (constant-time).
  // Returns the result JSON. Can be called once: the first call wipes the
  // secret whatever its outcome; later calls are STATE. BAD_MESSAGE for
  // garbage or another message kind, DENIED for a wrong solution.
  absl::StatusOr<std::string> Finish(ByteSpan request);

  bool finished() const { return finished_; }
  const JoinResult& result() const { return result_; }

 private:
  SecureBytes secret_;
  JoinResult result_;
  bool finished_ = false;
};

struct IssuedChallenge {
  std::unique_ptr<Challenge> challenge;
  Bytes response;  // serialized RegisterUsingTPMMethodResponse, challenge_request
};

// Immutable after New (its only state is the internal, locked cache of
// verified EKs); NewChallenge may run on many threads at once.
class Verifier {
 public:
  // Parses the policy (INVALID_ARGUMENT naming the problem).
  static absl::StatusOr<std::unique_ptr<Verifier>> New(absl::string_view policy_json,
                                                       VerifierOptions options = {});

  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  // Judges a serialized RegisterUsingTPMMethodRequest with init, in this
  // order: message, EK and AK structures (BAD_MESSAGE when malformed, before
  // any verdict), EK key type, EK certificate chain, allow rules, AK checks
  // (DENIED saying which check failed), then MakeCredential with a fresh
  // 32-byte secret. The EK of a request that passed every check is cached
  // (ek_cache.h).
  absl::StatusOr<IssuedChallenge> NewChallenge(ByteSpan request) const;

  VerifiedEkCache::Stats ek_cache_stats() const { return ek_cache_.stats(); }

 private:
  Verifier(Policy policy, std::optional<CertChainVerifier> chain, VerifierOptions options)
      : policy_(std::move(policy)),
        chain_(std::move(chain)),
        options_(std::move(options)),
        ek_cache_(options_.ek_cache_capacity, options_.ek_cache_max_age) {}

  time_t Now() const;

  Policy policy_;  // allow rules; its certificates moved into chain_
  std::optional<CertChainVerifier> chain_;  // set when ekcert_allowed_cas is
  VerifierOptions options_;
  mutable VerifiedEkCache ek_cache_;
};

}  // namespace tpmjoin::verifier

#endif  // TPMJOIN_SRC_VERIFIER_VERIFIER_H_
