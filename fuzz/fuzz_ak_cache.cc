// The AK cache file format (files on disk another process could corrupt).
#include <cstddef>
#include <cstdint>
#include <string>

#include "src/agent/ak_cache.h"

namespace {

// The value of the first "ek_pub_hash" key, so that inputs mutated from a
// real entry get past the which-EK check to the structures and the
// offline attestation checks behind it.
std::string EkPubHashIn(const std::string& text) {
  const size_t key = text.find("\"ek_pub_hash\"");
  if (key == std::string::npos) return std::string(64, 'a');
  const size_t open = text.find('"', key + 13);
  if (open == std::string::npos) return std::string(64, 'a');
  const size_t close = text.find('"', open + 1);
  if (close == std::string::npos) return std::string(64, 'a');
  return text.substr(open + 1, close - open - 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string hash = EkPubHashIn(text);
  (void)tpmjoin::agent::ParseCachedAk(text, hash, tpmjoin::agent::KeyAlgorithm::kRsa);
  (void)tpmjoin::agent::ParseCachedAk(text, hash, tpmjoin::agent::KeyAlgorithm::kEcc);
  return 0;
}
