// The verifier's policy JSON.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "tpmjoin_verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);  // NUL-terminated
  tpmjoin_verifier* v = nullptr;
  const tpmjoin_status st = tpmjoin_verifier_open(text.c_str(), &v);
  tpmjoin_fuzz::CheckStatus(st);
  if ((st == TPMJOIN_OK) != (v != nullptr)) std::abort();
  tpmjoin_verifier_close(v);
  return 0;
}
