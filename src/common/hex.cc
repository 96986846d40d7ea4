#include "src/common/hex.h"

namespace tpmjoin {
namespace {

constexpr char kDigits[] = "0123456789abcdef";

int Nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string HexEncode(ByteSpan data) {
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::string ColonHex(ByteSpan data) {
  std::string out;
  for (size_t i = 0; i < data.size(); ++i) {
    if (i) out.push_back(':');
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

std::optional<Bytes> HexDecode(absl::string_view text, bool allow_colons) {
  Bytes out;
  out.reserve(text.size() / 2);
  size_t i = 0;
  while (i < text.size()) {
    if (allow_colons && !out.empty() && text[i] == ':') ++i;
    if (i + 2 > text.size()) return std::nullopt;
    const int hi = Nibble(text[i]);
    const int lo = Nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    i += 2;
  }
  return out;
}

}  // namespace tpmjoin
