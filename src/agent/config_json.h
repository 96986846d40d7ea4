// A strict reader for the agent's config JSON (RFC 8259): one object whose
// members are read as scalars.
//
// Written by hand, unlike the rest of our JSON, so that the characters of a
// password are decoded straight into a Password and no other buffer ever
// holds them: a JSON library's lexer keeps copies of every token (for its
// error messages) that it frees without wiping.
#ifndef TPMJOIN_SRC_AGENT_CONFIG_JSON_H_
#define TPMJOIN_SRC_AGENT_CONFIG_JSON_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/agent/password.h"

namespace tpmjoin::agent {

// The value of one member of the config object. Nested arrays and objects
// are checked to be valid JSON and recorded only by kind.
struct ConfigValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;   // kBool
  std::string text;       // kString of an ordinary key
  Password password;      // kString of a secret key
  bool too_long = false;  // a secret longer than Password::kMaxSize
};

// Members in document order.
using ConfigMembers = std::vector<std::pair<std::string, ConfigValue>>;

// Reads `json`, which must be exactly one JSON object (surrounding
// whitespace and a leading UTF-8 byte order mark allowed). String values of keys for which `is_secret` holds go
// into ConfigValue::password. INVALID_ARGUMENT: not valid JSON (the message
// gives the byte offset, never the text), not an object, nested deeper than
// 64 levels, or a key given twice (the message names it).
absl::StatusOr<ConfigMembers> ReadConfigObject(absl::string_view json,
                                               bool (*is_secret)(absl::string_view key));

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_CONFIG_JSON_H_
