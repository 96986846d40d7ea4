// ak_cache_dir: the AK kept between joins, so that renewals load a key
// instead of generating one.
//
// One file per EK and AK algorithm, "ak-<ek_pub_hash>-<rsa|ecc>.json",
// holding the AK's TPM2B_PUBLIC and TPM2B_PRIVATE (sealed by the EK: it
// loads only under that EK), its creation data, attestation and signature,
// and the EK certificate read when it was made. The directory is 0700, the
// files 0600, written atomically (temp file, fsync, rename). A file that is
// corrupt, for another EK or for another algorithm is ignored with a
// warning, and the AK is made again.
#ifndef TPMJOIN_SRC_AGENT_AK_CACHE_H_
#define TPMJOIN_SRC_AGENT_AK_CACHE_H_

#include <tss2/tss2_tpm2_types.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/agent/ak.h"
#include "src/agent/config.h"
#include "src/common/bytes.h"

namespace tpmjoin::agent {

struct CachedAk {
  TPM2B_PUBLIC public_area = {};
  TPM2B_PRIVATE private_area = {};
  AkAttestation attestation;
  std::optional<Bytes> ek_cert_der;
};

class AkCache {
 public:
  explicit AkCache(std::string dir) : dir_(std::move(dir)) {}

  // The cached AK for this EK and algorithm; nullopt (with a warning on
  // stderr when a file exists but cannot be used) otherwise.
  std::optional<CachedAk> Lookup(const std::string& ek_pub_hash, KeyAlgorithm algorithm) const;

  // Stores atomically. Errors are for the caller to report as a warning: a
  // join never fails because its AK could not be cached.
  absl::Status Store(const std::string& ek_pub_hash, KeyAlgorithm algorithm,
                     const CachedAk& ak) const;

  // Removes the entry (after the TPM refused to load it).
  void Forget(const std::string& ek_pub_hash, KeyAlgorithm algorithm) const;

  std::string PathFor(const std::string& ek_pub_hash, KeyAlgorithm algorithm) const;

 private:
  std::string dir_;
};

// Parses a cache file's contents, checking that it belongs to this EK and
// algorithm (exposed for tests and fuzzing).
absl::StatusOr<CachedAk> ParseCachedAk(absl::string_view text, const std::string& ek_pub_hash,
                                       KeyAlgorithm algorithm);

// Writes "libtpmjoin: warning: <message>" to stderr.
void Warn(absl::string_view message);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_AK_CACHE_H_
