#include "src/agent/config_json.h"

#include <cstdint>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/common/bytes.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

constexpr int kMaxDepth = 64;

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF) that `s` starts with, or 0.
size_t Utf8SequenceLength(absl::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t b0 = byte(0);
  size_t n = 0;
  uint8_t lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    if (b0 == 0xe0) lo = 0xa0;
    if (b0 == 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    if (b0 == 0xf0) lo = 0x90;
    if (b0 == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (s.size() < n || byte(1) < lo || byte(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
  }
  return n;
}

template <typename Append>
void AppendUtf8(uint32_t cp, Append& append) {
  if (cp < 0x80) {
    append(static_cast<char>(cp));
  } else if (cp < 0x800) {
    append(static_cast<char>(0xc0 | (cp >> 6)));
    append(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    append(static_cast<char>(0xe0 | (cp >> 12)));
    append(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    append(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    append(static_cast<char>(0xf0 | (cp >> 18)));
    append(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    append(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    append(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

class Reader {
 public:
  explicit Reader(absl::string_view in) : in_(in) {}

  absl::StatusOr<ConfigMembers> ReadObject(bool (*is_secret)(absl::string_view)) {
    if (absl::StartsWith(in_, "\xef\xbb\xbf")) pos_ = 3;  // a UTF-8 byte order mark
    SkipSpace();
    if (Peek() != '{') {
      TPMJOIN_RETURN_IF_ERROR(SkipValue(0));
      TPMJOIN_RETURN_IF_ERROR(ExpectEnd());
      return InvalidArgumentError("config must be a JSON object");
    }
    ++pos_;
    ConfigMembers members;
    std::set<std::string> seen;
    std::optional<std::string> repeated;  // the first key given twice
    SkipSpace();
    if (!Consume('}')) {
      for (;;) {
        SkipSpace();
        std::string key;
        TPMJOIN_RETURN_IF_ERROR(ReadKey(&key));
        ConfigValue value;
        TPMJOIN_RETURN_IF_ERROR(ReadMemberValue(is_secret(key), &value));
        if (!seen.insert(key).second && !repeated) repeated = key;
        members.emplace_back(std::move(key), std::move(value));
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume('}')) break;
        return Fail("expected ',' or '}'");
      }
    }
    TPMJOIN_RETURN_IF_ERROR(ExpectEnd());
    if (repeated) {
      return InvalidArgumentError(
          absl::StrCat("config key \"", *repeated, "\" appears more than once"));
    }
    return members;
  }

 private:
  absl::Status Fail(absl::string_view what) const {
    return InvalidArgumentError(
        absl::StrCat("config is not valid JSON: ", what, " at byte ", pos_));
  }

  char Peek() const { return pos_ < in_.size() ? in_[pos_] : '\0'; }
  bool AtDigit() const { return Peek() >= '0' && Peek() <= '9'; }
  bool Consume(char c) {
    if (Peek() != c || pos_ >= in_.size()) return false;
    ++pos_;
    return true;
  }
  void SkipSpace() {
    while (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r') ++pos_;
  }
  absl::Status ExpectEnd() {
    SkipSpace();
    if (pos_ != in_.size()) return Fail("unexpected text after the value");
    return absl::OkStatus();
  }

  // `"key"` then `:`.
  absl::Status ReadKey(std::string* key) {
    if (Peek() != '"') return Fail("expected a key");
    TPMJOIN_RETURN_IF_ERROR(ReadString([&](char c) { key->push_back(c); }));
    SkipSpace();
    if (!Consume(':')) return Fail("expected ':'");
    SkipSpace();
    return absl::OkStatus();
  }

  absl::Status ReadMemberValue(bool secret, ConfigValue* value) {
    using Kind = ConfigValue::Kind;
    switch (Peek()) {
      case '"':
        value->kind = Kind::kString;
        return secret ? ReadSecret(value)
                      : ReadString([&](char c) { value->text.push_back(c); });
      case '{':
        value->kind = Kind::kObject;
        return SkipValue(1);
      case '[':
        value->kind = Kind::kArray;
        return SkipValue(1);
      case 't':
        value->kind = Kind::kBool;
        value->boolean = true;
        return Literal("true");
      case 'f':
        value->kind = Kind::kBool;
        return Literal("false");
      case 'n':
        value->kind = Kind::kNull;
        return Literal("null");
      default:
        value->kind = Kind::kNumber;
        return Number();
    }
  }

  // A password's characters go only into memory that is wiped when freed,
  // reserved on the heap up front (no small-string buffer), and never
  // beyond the longest password.
  absl::Status ReadSecret(ConfigValue* value) {
    SecureString decoded;
    decoded.reserve(Password::kMaxSize + 1);
    TPMJOIN_RETURN_IF_ERROR(ReadString([&](char c) {
      if (decoded.size() < Password::kMaxSize) {
        decoded.push_back(c);
      } else {
        value->too_long = true;
      }
    }));
    if (!value->too_long) value->password.Assign(decoded);
    return absl::OkStatus();
  }

  // Any value, inside `open` arrays and objects; checked, not kept.
  absl::Status SkipValue(int open) {
    const auto ignore = [](char) {};
    switch (Peek()) {
      case '{':
      case '[': {
        const char close = Peek() == '{' ? '}' : ']';
        if (open + 1 > kMaxDepth) return Fail("nested too deeply");
        ++pos_;
        SkipSpace();
        if (Consume(close)) return absl::OkStatus();
        for (;;) {
          SkipSpace();
          if (close == '}') {
            if (Peek() != '"') return Fail("expected a key");
            TPMJOIN_RETURN_IF_ERROR(ReadString(ignore));
            SkipSpace();
            if (!Consume(':')) return Fail("expected ':'");
            SkipSpace();
          }
          TPMJOIN_RETURN_IF_ERROR(SkipValue(open + 1));
          SkipSpace();
          if (Consume(',')) continue;
          if (Consume(close)) return absl::OkStatus();
          return Fail(close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        }
      }
      case '"':
        return ReadString(ignore);
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Number();
    }
  }

  absl::Status Literal(absl::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return Fail("invalid value");
    pos_ += word.size();
    return absl::OkStatus();
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  absl::Status Number() {
    Consume('-');
    if (!AtDigit()) return Fail("invalid value");
    if (!Consume('0')) {
      while (AtDigit()) ++pos_;
    }
    if (Consume('.')) {
      if (!AtDigit()) return Fail("invalid number");
      while (AtDigit()) ++pos_;
    }
    if (Consume('e') || Consume('E')) {
      if (!Consume('+')) Consume('-');
      if (!AtDigit()) return Fail("invalid number");
      while (AtDigit()) ++pos_;
    }
    return absl::OkStatus();
  }

  // A string at pos_, its decoded bytes passed to `append` one by one.
  template <typename Append>
  absl::Status ReadString(Append&& append) {
    ++pos_;  // the opening quote
    for (;;) {
      if (pos_ >= in_.size()) return Fail("unterminated string");
      const auto c = static_cast<uint8_t>(in_[pos_]);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Fail("control character in a string");
      if (c == '\\') {
        TPMJOIN_RETURN_IF_ERROR(Escape(append));
      } else if (c < 0x80) {
        append(static_cast<char>(c));
        ++pos_;
      } else {
        const size_t n = Utf8SequenceLength(in_.substr(pos_));
        if (n == 0) return Fail("invalid UTF-8 in a string");
        for (size_t i = 0; i < n; ++i) append(in_[pos_ + i]);
        pos_ += n;
      }
    }
  }

  template <typename Append>
  absl::Status Escape(Append& append) {
    if (pos_ + 1 >= in_.size()) return Fail("unterminated string");
    const char e = in_[pos_ + 1];
    pos_ += 2;
    switch (e) {
      case '"':
      case '\\':
      case '/':
        append(e);
        return absl::OkStatus();
      case 'b':
        append('\b');
        return absl::OkStatus();
      case 'f':
        append('\f');
        return absl::OkStatus();
      case 'n':
        append('\n');
        return absl::OkStatus();
      case 'r':
        append('\r');
        return absl::OkStatus();
      case 't':
        append('\t');
        return absl::OkStatus();
      case 'u':
        break;
      default:
        return Fail("invalid escape in a string");
    }
    uint32_t cp = 0;
    TPMJOIN_RETURN_IF_ERROR(Hex4(&cp));
    if (cp >= 0xdc00 && cp <= 0xdfff) return Fail("unpaired surrogate in a string");
    if (cp >= 0xd800 && cp <= 0xdbff) {
      uint32_t low = 0;
      if (in_.substr(pos_, 2) != "\\u") return Fail("unpaired surrogate in a string");
      pos_ += 2;
      TPMJOIN_RETURN_IF_ERROR(Hex4(&low));
      if (low < 0xdc00 || low > 0xdfff) return Fail("unpaired surrogate in a string");
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    AppendUtf8(cp, append);
    return absl::OkStatus();
  }

  absl::Status Hex4(uint32_t* out) {
    *out = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = Peek();
      uint32_t digit;
      if (h >= '0' && h <= '9') {
        digit = h - '0';
      } else if (h >= 'a' && h <= 'f') {
        digit = h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        digit = h - 'A' + 10;
      } else {
        return Fail("invalid \\u escape in a string");
      }
      *out = *out << 4 | digit;
      ++pos_;
    }
    return absl::OkStatus();
  }

  absl::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<ConfigMembers> ReadConfigObject(absl::string_view json,
                                               bool (*is_secret)(absl::string_view key)) {
  return Reader(json).ReadObject(is_secret);
}

}  // namespace tpmjoin::agent
