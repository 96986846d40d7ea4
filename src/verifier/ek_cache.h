// Already-parsed and already-verified EKs, so that a renewal (a bot presents
// the same EK certificate every ~20 minutes) costs no certificate parsing and
// no chain verification: the public-key operations left per challenge are
// the AK's signature and the encryption of the seed.
//
// Keyed by SHA-256 of the ek_cert (or ek_key) bytes exactly as received. An
// entry is used only while its verified path is valid (the intersection of
// the validity periods of every certificate on it) and for at most
// `max_age` after it was verified; past its capacity the least recently used
// entry goes. The verifier stores the EK of a request only once that
// request has passed every check (EK, chain, allow rules, AK): a denial is
// never cached, so clients that are not allowed cannot fill the cache or
// evict the entries of allowed EKs. Thread-safe.
#ifndef TPMJOIN_SRC_VERIFIER_EK_CACHE_H_
#define TPMJOIN_SRC_VERIFIER_EK_CACHE_H_

#include <cstdint>
#include <ctime>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "src/common/bytes.h"
#include "src/verifier/cert_chain.h"
#include "src/verifier/ek_validation.h"

namespace tpmjoin::verifier {

class VerifiedEkCache {
 public:
  // capacity 0 disables the cache.
  VerifiedEkCache(size_t capacity, time_t max_age);

  // The cache key of an EK field ("ek_cert" or "ek_key") and its bytes.
  static std::string KeyOf(absl::string_view field, ByteSpan bytes);

  // The EK stored under `key` when it may still be trusted at `now`.
  std::shared_ptr<const Ek> Lookup(const std::string& key, time_t now);

  void Insert(const std::string& key, std::shared_ptr<const Ek> ek, ValidityWindow window,
              time_t now);

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t expired = 0;
    uint64_t evicted = 0;
    size_t size = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const Ek> ek;
    ValidityWindow window;  // of the verified path, narrowed to the max age
  };
  using List = std::list<Entry>;  // most recently used first

  const size_t capacity_;
  const time_t max_age_;
  mutable std::mutex mu_;
  List entries_;
  std::unordered_map<std::string, List::iterator> index_;
  Stats stats_;
};

}  // namespace tpmjoin::verifier

#endif  // TPMJOIN_SRC_VERIFIER_EK_CACHE_H_
