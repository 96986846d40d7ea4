// Hex and the identifier formats that Teleport join tokens use.
#ifndef TPMJOIN_SRC_COMMON_HEX_H_
#define TPMJOIN_SRC_COMMON_HEX_H_

#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "src/common/bytes.h"

namespace tpmjoin {

// Lowercase hex, no separators.
std::string HexEncode(ByteSpan data);

// Lowercase hex bytes joined by ':' ("04:c0:1d"), as `tbot tpm identify`
// prints EK certificate serials.
std::string ColonHex(ByteSpan data);

// Decodes hex, case-insensitive. When allow_colons, a ':' may separate any
// two bytes. Returns nullopt on odd length or a non-hex character.
std::optional<Bytes> HexDecode(absl::string_view text, bool allow_colons = false);

}  // namespace tpmjoin

#endif  // TPMJOIN_SRC_COMMON_HEX_H_
