// The agent's configuration (tpmjoin_session_open's config_json).
#ifndef TPMJOIN_SRC_AGENT_CONFIG_H_
#define TPMJOIN_SRC_AGENT_CONFIG_H_

#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "src/agent/password.h"

namespace tpmjoin::agent {

enum class KeyAlgorithm { kRsa, kEcc };

absl::string_view KeyAlgorithmName(KeyAlgorithm alg);

struct AgentConfig {
  std::string tcti;                     // resolved: never empty
  KeyAlgorithm ek_algorithm = KeyAlgorithm::kRsa;
  KeyAlgorithm ak_algorithm = KeyAlgorithm::kRsa;
  Password endorsement_auth;
  Password owner_auth;
  std::optional<std::string> ek_cert_file;
  std::optional<std::string> ak_cache_dir;
  bool parameter_encryption = true;
};

// Environment lookups, injectable for tests.
using GetEnvFn = const char* (*)(const char* name);

// Parses config JSON (NULL, "" or "{}" give the defaults). The TCTI
// defaults to $TPM2TOOLS_TCTI, then $TCTI, then "device:/dev/tpmrm0".
// INVALID_ARGUMENT naming the key for unknown keys, repeated keys, wrong
// types and values. Password values are decoded straight into Passwords
// (config_json.h): no other buffer of ours holds them, whatever the outcome.
absl::StatusOr<AgentConfig> ParseAgentConfig(const char* json, GetEnvFn getenv_fn = nullptr);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_CONFIG_H_
