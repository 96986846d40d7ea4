// The agent's config JSON (parsing only: no TPM is contacted).
//
// Besides never crashing, our hand-written reader (src/agent/config_json.h)
// must agree with nlohmann's parser: the same documents valid, the same
// strings decoded. The known differences are ours on purpose: the root must
// be an object, nesting stops at 64 levels, keys may not repeat, and a number
// too large for a double is only a number to us (nlohmann refuses it).
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "src/agent/config.h"
#include "src/agent/config_json.h"
#include "src/common/errors.h"

namespace {

using Json = nlohmann::json;

// What nlohmann sees: validity, the shape our reader restricts, and the
// top-level strings.
class Reference : public nlohmann::json_sax<Json> {
 public:
  bool number_overflow = false;
  bool root_is_object = false;
  bool repeated_key = false;
  int max_depth = 0;
  std::map<std::string, std::string> strings;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool string(string_t& value) override {
    if (depth_ == 1) strings[key_] = value;
    return true;
  }
  bool start_object(std::size_t) override { return Open(true); }
  bool start_array(std::size_t) override { return Open(false); }
  bool end_object() override { return --depth_, true; }
  bool end_array() override { return --depth_, true; }
  bool key(string_t& key) override {
    if (depth_ == 1) {
      key_ = key;
      if (!keys_.insert(key).second) repeated_key = true;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& e) override {
    number_overflow = e.id == 406;
    return false;
  }

 private:
  bool Open(bool object) {
    if (depth_ == 0) root_is_object = object;
    max_depth = std::max(max_depth, ++depth_);
    return true;
  }
  int depth_ = 0;
  std::string key_;
  std::set<std::string> keys_;
};

bool SecretKey(absl::string_view key) { return key == "endorsement_auth" || key == "owner_auth"; }

void CheckAgainstReference(const std::string& text) {
  Reference reference;
  const bool valid = Json::sax_parse(text, &reference);
  auto ours = tpmjoin::agent::ReadConfigObject(text, SecretKey);
  const bool want = valid && reference.root_is_object && reference.max_depth <= 64 &&
                    !reference.repeated_key;
  if (ours.ok() != want && !(ours.ok() && reference.number_overflow)) std::abort();
  if (!ours.ok() || !valid) return;
  for (const auto& [key, value] : *ours) {
    if (value.kind != tpmjoin::agent::ConfigValue::Kind::kString) continue;
    const std::string& decoded = reference.strings.at(key);
    if (value.too_long) {
      if (decoded.size() <= tpmjoin::agent::Password::kMaxSize) std::abort();
    } else if (decoded != (SecretKey(key) ? std::string(value.password.view()) : value.text)) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // The ABI takes a C string; nlohmann also stops at a NUL.
  text.resize(std::min(text.size(), text.find('\0')));
  CheckAgainstReference(text);
  auto config = tpmjoin::agent::ParseAgentConfig(text.c_str(), [](const char*) -> const char* {
    return nullptr;
  });
  if (!config.ok() &&
      tpmjoin::AbiCodeOf(config.status()) != tpmjoin::AbiCode::kInvalidArgument) {
    std::abort();
  }
  if (config.ok() && config->tcti.empty()) std::abort();
  return 0;
}
