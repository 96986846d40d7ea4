// The agent's input from the network: the server's challenge (the parsing
// stage of tpmjoin_join_respond, before anything reaches the TPM).
#include <cstddef>
#include <cstdint>

#include "src/agent/challenge.h"
#include "src/common/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto credential = tpmjoin::agent::ParseChallenge(tpmjoin::ByteSpan(data, size));
  if (!credential.ok() &&
      tpmjoin::AbiCodeOf(credential.status()) != tpmjoin::AbiCode::kBadMessage) {
    std::abort();
  }
  if (credential.ok() &&
      (credential->credential_blob.size == 0 ||
       credential->credential_blob.size > sizeof(credential->credential_blob.credential) ||
       credential->secret.size == 0 ||
       credential->secret.size > sizeof(credential->secret.secret))) {
    std::abort();
  }
  return 0;
}
