// Shared bits of the fuzz targets.
#ifndef TPMJOIN_FUZZ_FUZZ_UTIL_H_
#define TPMJOIN_FUZZ_FUZZ_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "tpmjoin.h"
#include "tpmjoin_verifier.h"

namespace tpmjoin_fuzz {

// A file under fuzz/seeds (aborts if missing: a broken fuzz setup must not
// pass as a clean run).
inline std::string Seed(const std::string& name) {
  std::ifstream in(std::string(TPMJOIN_FUZZ_SEEDS) + "/" + name, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "missing fuzz seed %s\n", name.c_str());
    std::abort();
  }
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A verifier for the seeds' policy: it allows the seeds' EKs and trusts
// their CA, so that mutations of a good request reach the deep checks.
inline tpmjoin_verifier* SeedVerifier() {
  tpmjoin_verifier* v = nullptr;
  if (tpmjoin_verifier_open(Seed("policy.json").c_str(), &v) != TPMJOIN_OK) std::abort();
  return v;
}

// Every status the ABI returns is one of the documented values, and every
// failure carries a message.
inline void CheckStatus(tpmjoin_status st) {
  if (st < TPMJOIN_OK || st > TPMJOIN_ERR_INTERNAL) std::abort();
  if (st != TPMJOIN_OK && tpmjoin_last_error()[0] == '\0') std::abort();
  if (st == TPMJOIN_ERR_INTERNAL) std::abort();  // garbage is the caller's, never ours
}

}  // namespace tpmjoin_fuzz

#endif  // TPMJOIN_FUZZ_FUZZ_UTIL_H_
