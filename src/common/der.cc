#include "src/common/der.h"

namespace tpmjoin::der {

Bytes Tlv(uint8_t tag, ByteSpan contents) {
  Bytes out = {tag};
  const size_t len = contents.size();
  if (len < 0x80) {
    out.push_back(static_cast<uint8_t>(len));
  } else {
    Bytes length;
    for (size_t n = len; n > 0; n >>= 8) length.insert(length.begin(), static_cast<uint8_t>(n));
    out.push_back(static_cast<uint8_t>(0x80 | length.size()));
    out.insert(out.end(), length.begin(), length.end());
  }
  out.insert(out.end(), contents.begin(), contents.end());
  return out;
}

Bytes Concat(std::initializer_list<ByteSpan> parts) {
  Bytes out;
  for (ByteSpan part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

Bytes UnsignedInteger(ByteSpan magnitude) {
  size_t start = 0;
  while (start + 1 < magnitude.size() && magnitude[start] == 0) ++start;
  Bytes contents;
  if (magnitude.empty() || (magnitude[start] & 0x80)) contents.push_back(0);
  contents.insert(contents.end(), magnitude.begin() + start, magnitude.end());
  return Tlv(kInteger, contents);
}

Bytes BitString(ByteSpan bits) {
  Bytes contents = {0};  // no unused bits
  contents.insert(contents.end(), bits.begin(), bits.end());
  return Tlv(kBitString, contents);
}

size_t ElementLength(ByteSpan data) {
  if (data.size() < 2) return 0;
  const uint8_t first = data[1];
  if (first < 0x80) return 2 + first;
  const size_t n = first & 0x7f;
  if (n == 0 || n > 3 || data.size() < 2 + n) return 0;
  size_t len = 0;
  for (size_t i = 0; i < n; ++i) len = len << 8 | data[2 + i];
  return 2 + n + len;
}

}  // namespace tpmjoin::der
