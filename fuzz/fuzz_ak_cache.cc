// The AK cache file format (files on disk another process could corrupt).
#include <cstddef>
#include <cstdint>
#include <string>

#include "src/agent/ak_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string hash(64, 'a');
  (void)tpmjoin::agent::ParseCachedAk(text, hash, tpmjoin::agent::KeyAlgorithm::kRsa);
  (void)tpmjoin::agent::ParseCachedAk(text, hash, tpmjoin::agent::KeyAlgorithm::kEcc);
  return 0;
}
