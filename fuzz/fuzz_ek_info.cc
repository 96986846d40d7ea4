// tpmjoin_ek_info: EK certificates and public keys from files an operator
// was handed (DER, PEM, raw NV dumps).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "tpmjoin_verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tpmjoin_bytes out = {nullptr, 0};
  tpmjoin_fuzz::CheckStatus(tpmjoin_ek_info(data, size, &out));
  tpmjoin_bytes_free(&out);
  return 0;
}
