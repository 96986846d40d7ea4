// The verifier's second input from the network: the answer to a challenge.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "tpmjoin_verifier.h"

static tpmjoin_verifier* g_verifier = nullptr;
static std::string g_init;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_init = tpmjoin_fuzz::Seed("verifier_challenge/rsa-ek-cert-rsa-ak.bin");
  g_verifier = tpmjoin_fuzz::SeedVerifier();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tpmjoin_challenge* challenge = nullptr;
  tpmjoin_bytes response = {nullptr, 0};
  if (tpmjoin_verifier_challenge(g_verifier, reinterpret_cast<const uint8_t*>(g_init.data()),
                                 g_init.size(), &challenge, &response) != TPMJOIN_OK) {
    std::abort();
  }
  tpmjoin_bytes result = {nullptr, 0};
  const tpmjoin_status st = tpmjoin_verifier_finish(challenge, data, size, &result);
  tpmjoin_fuzz::CheckStatus(st);
  // Nobody but the TPM knows the fresh secret.
  if (st == TPMJOIN_OK) std::abort();
  if (tpmjoin_verifier_finish(challenge, data, size, &result) != TPMJOIN_ERR_STATE) std::abort();
  tpmjoin_bytes_free(&response);
  tpmjoin_challenge_free(challenge);
  return 0;
}
