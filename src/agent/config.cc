#include "src/agent/config.h"

#include <openssl/crypto.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

using Json = nlohmann::json;

constexpr char kDefaultTcti[] = "device:/dev/tpmrm0";

absl::StatusOr<std::string> GetString(const Json& value, absl::string_view key) {
  if (!value.is_string()) {
    return InvalidArgumentError(absl::StrCat("config key \"", key, "\" must be a string"));
  }
  return value.get<std::string>();
}

absl::StatusOr<KeyAlgorithm> GetAlgorithm(const Json& value, absl::string_view key) {
  TPMJOIN_ASSIGN_OR_RETURN(const std::string text, GetString(value, key));
  if (text == "rsa") return KeyAlgorithm::kRsa;
  if (text == "ecc") return KeyAlgorithm::kEcc;
  return InvalidArgumentError(
      absl::StrCat("config key \"", key, "\" must be \"rsa\" or \"ecc\", not \"", text, "\""));
}

absl::Status SetPassword(Json& value, absl::string_view key, SecureString* out) {
  if (!value.is_string()) {
    return InvalidArgumentError(absl::StrCat("config key \"", key, "\" must be a string"));
  }
  auto& text = value.get_ref<std::string&>();
  // Whatever happens next, the parsed JSON's copy is wiped.
  struct Wipe {
    std::string& s;
    ~Wipe() { OPENSSL_cleanse(s.data(), s.size()); }
  } wipe{text};
  // TPM2B_AUTH holds at most the largest digest size.
  if (text.size() > 64) {
    return InvalidArgumentError(
        absl::StrCat("config key \"", key, "\" is longer than 64 bytes"));
  }
  out->assign(text.begin(), text.end());
  return absl::OkStatus();
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
  Json root = Json::object();
  if (json != nullptr && *json != '\0') {
    root = Json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) return InvalidArgumentError("config is not valid JSON");
    if (!root.is_object()) return InvalidArgumentError("config must be a JSON object");
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& key = it.key();
    Json& value = it.value();
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
      TPMJOIN_ASSIGN_OR_RETURN(std::string path, GetString(value, key));
      if (path.empty()) {
        return InvalidArgumentError("config key \"ek_cert_file\" must not be empty");
      }
      config.ek_cert_file = std::move(path);
    } else if (key == "ak_cache_dir") {
      TPMJOIN_ASSIGN_OR_RETURN(std::string path, GetString(value, key));
      if (path.empty()) {
        return InvalidArgumentError("config key \"ak_cache_dir\" must not be empty");
      }
      config.ak_cache_dir = std::move(path);
    } else if (key == "parameter_encryption") {
      if (!value.is_boolean()) {
        return InvalidArgumentError(
            "config key \"parameter_encryption\" must be true or false");
      }
      config.parameter_encryption = value.get<bool>();
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
