#include "src/agent/config.h"

#include <openssl/crypto.h>

#include <cstdlib>
#include <map>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

using Json = nlohmann::json;

constexpr char kDefaultTcti[] = "device:/dev/tpmrm0";

bool IsPasswordKey(absl::string_view key) {
  return key == "endorsement_auth" || key == "owner_auth";
}

// One member of the top-level config object. Nested arrays and objects are
// only recorded as such: every key takes a scalar.
struct Member {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;      // kString, except for passwords
  Password password;     // kString of a password key
  bool too_long = false;  // a password longer than Password::kMaxSize
};

// Reads the config through nlohmann's SAX interface instead of building a
// DOM, so that a password is copied exactly once, into a Password, and the
// lexer's buffer holding it is wiped right away: no copy is left in a
// parsed document on any path (early rejections, repeated keys, bad JSON).
class ConfigReader : public nlohmann::json_sax<Json> {
 public:
  std::map<std::string, Member> members;
  bool root_is_object = false;
  std::string repeated_key;  // the first key seen twice

  bool null() override { return Scalar(Member::Kind::kNull); }
  bool boolean(bool value) override {
    Scalar(Member::Kind::kBool);
    if (depth_ == 1) members[key_].boolean = value;
    return true;
  }
  bool number_integer(number_integer_t) override { return Scalar(Member::Kind::kNumber); }
  bool number_unsigned(number_unsigned_t) override { return Scalar(Member::Kind::kNumber); }
  bool number_float(number_float_t, const string_t&) override {
    return Scalar(Member::Kind::kNumber);
  }
  bool binary(binary_t&) override { return Scalar(Member::Kind::kNull); }

  // `value` is the lexer's own buffer.
  bool string(string_t& value) override {
    const bool secret = depth_ >= 1 && IsPasswordKey(key_);
    Scalar(Member::Kind::kString);
    if (depth_ == 1) {
      Member& member = members[key_];
      if (!secret) {
        member.text = value;
      } else if (value.size() > Password::kMaxSize) {
        member.too_long = true;
      } else {
        member.password.Assign(value);
      }
    }
    if (secret) OPENSSL_cleanse(value.data(), value.size());
    return true;
  }

  bool start_object(std::size_t) override { return Open(Member::Kind::kObject); }
  bool start_array(std::size_t) override { return Open(Member::Kind::kArray); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }

  bool key(string_t& key) override {
    if (depth_ == 1) {
      key_ = key;
      if (members.count(key_) != 0 && repeated_key.empty()) repeated_key = key_;
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  // A value at depth 0 is the root; at depth 1, the value of key_.
  bool Scalar(Member::Kind kind) {
    if (depth_ == 1) members[key_].kind = kind;
    return true;
  }
  bool Open(Member::Kind kind) {
    if (depth_ == 0) root_is_object = kind == Member::Kind::kObject;
    Scalar(kind);
    ++depth_;
    return true;
  }
  bool Close() {
    --depth_;
    return true;
  }

  int depth_ = 0;
  std::string key_;  // the current top-level key
};

absl::Status KindError(absl::string_view key, absl::string_view want) {
  return InvalidArgumentError(absl::StrCat("config key \"", key, "\" must be ", want));
}

absl::StatusOr<std::string> GetString(const Member& value, absl::string_view key) {
  if (value.kind != Member::Kind::kString) return KindError(key, "a string");
  return value.text;
}

absl::StatusOr<KeyAlgorithm> GetAlgorithm(const Member& value, absl::string_view key) {
  TPMJOIN_ASSIGN_OR_RETURN(const std::string text, GetString(value, key));
  if (text == "rsa") return KeyAlgorithm::kRsa;
  if (text == "ecc") return KeyAlgorithm::kEcc;
  return InvalidArgumentError(
      absl::StrCat("config key \"", key, "\" must be \"rsa\" or \"ecc\", not \"", text, "\""));
}

absl::Status SetPassword(const Member& value, absl::string_view key, Password* out) {
  if (value.kind != Member::Kind::kString) return KindError(key, "a string");
  if (value.too_long) {
    return InvalidArgumentError(absl::StrCat("config key \"", key, "\" is longer than ",
                                             Password::kMaxSize, " bytes"));
  }
  *out = value.password;
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetPath(const Member& value, absl::string_view key) {
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
  ConfigReader reader;
  if (json != nullptr && *json != '\0') {
    if (!Json::sax_parse(json, &reader)) return InvalidArgumentError("config is not valid JSON");
    if (!reader.root_is_object) return InvalidArgumentError("config must be a JSON object");
    if (!reader.repeated_key.empty()) {
      return InvalidArgumentError(
          absl::StrCat("config key \"", reader.repeated_key, "\" appears more than once"));
    }
  }
  for (const auto& [key, value] : reader.members) {
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
      if (value.kind != Member::Kind::kBool) return KindError(key, "true or false");
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
