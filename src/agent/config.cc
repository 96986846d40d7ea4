#include "src/agent/config.h"

#include <openssl/crypto.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "src/agent/config_json.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

constexpr char kDefaultTcti[] = "device:/dev/tpmrm0";

bool IsPasswordKey(absl::string_view key) {
  return key == "endorsement_auth" || key == "owner_auth";
}

absl::Status KindError(absl::string_view key, absl::string_view want) {
  return InvalidArgumentError(absl::StrCat("config key \"", key, "\" must be ", want));
}

absl::StatusOr<std::string> GetString(const ConfigValue& value, absl::string_view key) {
  if (value.kind != ConfigValue::Kind::kString) return KindError(key, "a string");
  return value.text;
}

absl::StatusOr<KeyAlgorithm> GetAlgorithm(const ConfigValue& value, absl::string_view key) {
  TPMJOIN_ASSIGN_OR_RETURN(const std::string text, GetString(value, key));
  if (text == "rsa") return KeyAlgorithm::kRsa;
  if (text == "ecc") return KeyAlgorithm::kEcc;
  return InvalidArgumentError(
      absl::StrCat("config key \"", key, "\" must be \"rsa\" or \"ecc\", not \"", text, "\""));
}

absl::Status SetPassword(const ConfigValue& value, absl::string_view key, Password* out) {
  if (value.kind != ConfigValue::Kind::kString) return KindError(key, "a string");
  if (value.too_long) {
    return InvalidArgumentError(absl::StrCat("config key \"", key, "\" is longer than ",
                                             Password::kMaxSize, " bytes"));
  }
  *out = value.password;
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetPath(const ConfigValue& value, absl::string_view key) {
  TPMJOIN_ASSIGN_OR_RETURN(std::string path, GetString(value, key));
  if (path.empty()) {
    return InvalidArgumentError(absl::StrCat("config key \"", key, "\" must not be empty"));
  }
  return path;
}

}  // namespace

absl::string_view KeyAlgorithmName(KeyAlgorithm alg) {
  return alg == KeyAlgorithm::kRsa ? "rsa" : "ecc";
}

absl::StatusOr<AgentConfig> ParseAgentConfig(const char* json, GetEnvFn getenv_fn) {
  if (getenv_fn == nullptr) getenv_fn = [](const char* name) -> const char* {
    return std::getenv(name);
  };
  AgentConfig config;
  ConfigMembers members;
  if (json != nullptr && *json != '\0') {
    TPMJOIN_ASSIGN_OR_RETURN(members, ReadConfigObject(json, IsPasswordKey));
  }
  for (const auto& [key, value] : members) {
    if (key == "tcti") {
      TPMJOIN_ASSIGN_OR_RETURN(config.tcti, GetString(value, key));
      if (config.tcti.empty()) {
        return InvalidArgumentError("config key \"tcti\" must not be empty");
      }
    } else if (key == "ek_algorithm") {
      TPMJOIN_ASSIGN_OR_RETURN(config.ek_algorithm, GetAlgorithm(value, key));
    } else if (key == "ak_algorithm") {
      TPMJOIN_ASSIGN_OR_RETURN(config.ak_algorithm, GetAlgorithm(value, key));
    } else if (key == "endorsement_auth") {
      TPMJOIN_RETURN_IF_ERROR(SetPassword(value, key, &config.endorsement_auth));
    } else if (key == "owner_auth") {
      TPMJOIN_RETURN_IF_ERROR(SetPassword(value, key, &config.owner_auth));
    } else if (key == "ek_cert_file") {
      TPMJOIN_ASSIGN_OR_RETURN(config.ek_cert_file, GetPath(value, key));
    } else if (key == "ak_cache_dir") {
      TPMJOIN_ASSIGN_OR_RETURN(config.ak_cache_dir, GetPath(value, key));
    } else if (key == "parameter_encryption") {
      if (value.kind != ConfigValue::Kind::kBool) return KindError(key, "true or false");
      config.parameter_encryption = value.boolean;
    } else {
      return InvalidArgumentError(absl::StrCat("unknown config key \"", key, "\""));
    }
  }
  if (config.tcti.empty()) {
    for (const char* var : {"TPM2TOOLS_TCTI", "TCTI"}) {
      const char* value = getenv_fn(var);
      if (value != nullptr && *value != '\0') {
        config.tcti = value;
        break;
      }
    }
  }
  if (config.tcti.empty()) config.tcti = kDefaultTcti;
  return config;
}

}  // namespace tpmjoin::agent
