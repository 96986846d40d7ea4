// The strict TPM structure unmarshalers: the first byte picks the
// structure, the rest is parsed. What parses must marshal back to exactly
// the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "src/common/tpm_mu.h"

namespace {

template <typename T>
void RoundTrip(tpmjoin::ByteSpan data) {
  auto parsed = tpmjoin::Unmarshal<T>(data, "fuzz");
  if (!parsed.ok()) return;
  auto again = tpmjoin::Marshal(*parsed);
  if (!again.ok() || *again != tpmjoin::Bytes(data.begin(), data.end())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const tpmjoin::ByteSpan rest(data + 1, size - 1);
  switch (data[0] % 9) {
    case 0: RoundTrip<TPMT_PUBLIC>(rest); break;
    case 1: RoundTrip<TPMS_CREATION_DATA>(rest); break;
    case 2: RoundTrip<TPMS_ATTEST>(rest); break;
    case 3: RoundTrip<TPMT_SIGNATURE>(rest); break;
    case 4: RoundTrip<TPM2B_ID_OBJECT>(rest); break;
    case 5: RoundTrip<TPM2B_ENCRYPTED_SECRET>(rest); break;
    case 6: RoundTrip<TPM2B_PUBLIC>(rest); break;
    case 7: RoundTrip<TPM2B_PRIVATE>(rest); break;
    default: RoundTrip<TPMS_ECC_POINT>(rest); break;
  }
  return 0;
}
