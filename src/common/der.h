// A minimal DER writer (just enough to spell a SubjectPublicKeyInfo) and
// a header reader.
#ifndef TPMJOIN_SRC_COMMON_DER_H_
#define TPMJOIN_SRC_COMMON_DER_H_

#include <cstdint>
#include <initializer_list>

#include "src/common/bytes.h"

namespace tpmjoin::der {

constexpr uint8_t kInteger = 0x02;
constexpr uint8_t kBitString = 0x03;
constexpr uint8_t kNull = 0x05;
constexpr uint8_t kObjectIdentifier = 0x06;
constexpr uint8_t kSequence = 0x30;

// tag || length (definite, minimal) || contents.
Bytes Tlv(uint8_t tag, ByteSpan contents);

// The concatenation of DER elements.
Bytes Concat(std::initializer_list<ByteSpan> parts);

// INTEGER for a non-negative big-endian magnitude (leading zeros dropped,
// a 0x00 added when the high bit is set).
Bytes UnsignedInteger(ByteSpan magnitude);

// BIT STRING with no unused bits.
Bytes BitString(ByteSpan bits);

// Length (header included) of the DER element starting at data[0], or 0
// when data does not start with a definite-length header (at most 3 length
// bytes). The length may exceed data.size(): callers compare.
size_t ElementLength(ByteSpan data);

}  // namespace tpmjoin::der

#endif  // TPMJOIN_SRC_COMMON_DER_H_
