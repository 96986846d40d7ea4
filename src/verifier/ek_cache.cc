#include "src/verifier/ek_cache.h"

#include <algorithm>

#include "src/common/digest.h"

namespace tpmjoin::verifier {

VerifiedEkCache::VerifiedEkCache(size_t capacity, time_t max_age)
    : capacity_(capacity), max_age_(max_age) {}

std::string VerifiedEkCache::KeyOf(absl::string_view field, ByteSpan bytes) {
  auto digest = Digest(EVP_sha256(), {AsSpan(field), ByteSpan(reinterpret_cast<const uint8_t*>(":"), 1), bytes});
  if (!digest.ok()) return std::string();  // never matches: Lookup/Insert ignore ""
  return std::string(digest->begin(), digest->end());
}

std::shared_ptr<const Ek> VerifiedEkCache::Lookup(const std::string& key, time_t now) {
  if (capacity_ == 0 || key.empty()) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  if (!it->second->window.Contains(now)) {
    ++stats_.expired;
    ++stats_.misses;
    entries_.erase(it->second);
    index_.erase(it);
    return nullptr;
  }
  entries_.splice(entries_.begin(), entries_, it->second);  // most recently used
  ++stats_.hits;
  return it->second->ek;
}

void VerifiedEkCache::Insert(const std::string& key, std::shared_ptr<const Ek> ek,
                             ValidityWindow window, time_t now) {
  if (capacity_ == 0 || key.empty()) return;
  if (max_age_ < std::numeric_limits<time_t>::max() - now) {
    window.not_after = std::min(window.not_after, now + max_age_);
  }
  if (!window.Contains(now)) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    entries_.erase(it->second);
    index_.erase(it);
  }
  entries_.push_front(Entry{key, std::move(ek), window});
  index_[key] = entries_.begin();
  while (entries_.size() > capacity_) {
    index_.erase(entries_.back().key);
    entries_.pop_back();
    ++stats_.evicted;
  }
}

VerifiedEkCache::Stats VerifiedEkCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats out = stats_;
  out.size = entries_.size();
  return out;
}

}  // namespace tpmjoin::verifier
