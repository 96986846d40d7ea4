// ak_cache_dir: the AK kept between joins, so that renewals load a key
// instead of generating one.
//
// One file per EK and AK algorithm, "ak-<ek_pub_hash>-<rsa|ecc>.json",
// holding the AK's TPM2B_PUBLIC and TPM2B_PRIVATE (sealed by the EK: it
// loads only under that EK), its creation data, attestation and signature,
// the EK certificate read when it was made, and which EK profile it was
// made under (so that a renewal finds an ECC EK without probing the TPM's
// NV range). Files are 0600, written atomically (temp file, fsync, rename);
// temp files a crashed writer left behind are removed once they are old. A
// file that is corrupt (its "sha256" over all fields does not match, or
// what a renewal would send would not pass a verifier's AK checks, or its
// EK certificate is for another key), for another EK or for another
// algorithm is ignored with a warning, and the AK is made again.
//
// The directory must be private: it is created 0700; an existing one that
// this process owns with group or other permission bits is set to 0700
// (with a warning), and when others could write to it, the cache files in
// it are removed (anyone could have planted them); one owned by another
// user, or a shared sticky directory such as /tmp, is refused (with a
// warning) for reading and writing alike, and joins then make a fresh AK.
// Only regular files (no symlinks) of this process's user that nobody else
// may write are read.
#ifndef TPMJOIN_SRC_AGENT_AK_CACHE_H_
#define TPMJOIN_SRC_AGENT_AK_CACHE_H_

#include <tss2/tss2_tpm2_types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/agent/ak.h"
#include "src/agent/config.h"
#include "src/agent/ek.h"
#include "src/common/bytes.h"

namespace tpmjoin::agent {

struct CachedAk {
  TPM2B_PUBLIC public_area = {};
  TPM2B_PRIVATE private_area = {};
  AkAttestation attestation;
  std::optional<Bytes> ek_cert_der;
  std::string ek_template;  // EkProfile name ("L-1", "H-3", ...); may be empty
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

  // The EKs of the cached AKs of this algorithm, newest first (at most a
  // few; entries that cannot be read are skipped without a warning).
  std::vector<RememberedEk> RememberedEks(KeyAlgorithm algorithm) const;

  // Checks (and with `create`, makes) the directory as described above.
  // NOT_FOUND when it does not exist and `create` is false.
  absl::Status CheckDirectory(bool create) const;

  std::string PathFor(const std::string& ek_pub_hash, KeyAlgorithm algorithm) const;

 private:
  // Removes "ak-*.json.XXXXXX" files of ours older than a few minutes, or
  // (stale_temp_files_only false) every cache file. Returns how many.
  int RemoveCacheFiles(bool stale_temp_files_only) const;

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
