// The verifier's first input from the network: an init request.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "tpmjoin_verifier.h"

static tpmjoin_verifier* g_verifier = nullptr;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_verifier = tpmjoin_fuzz::SeedVerifier();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tpmjoin_challenge* challenge = nullptr;
  tpmjoin_bytes out = {nullptr, 0};
  const tpmjoin_status st = tpmjoin_verifier_challenge(g_verifier, data, size, &challenge, &out);
  tpmjoin_fuzz::CheckStatus(st);
  if ((st == TPMJOIN_OK) != (challenge != nullptr && out.data != nullptr)) std::abort();
  tpmjoin_bytes_free(&out);
  tpmjoin_challenge_free(challenge);
  return 0;
}
