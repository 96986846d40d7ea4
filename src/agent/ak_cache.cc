#include "src/agent/ak_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <iterator>
#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "abi/tpmjoin.pb.h"
#include "src/common/digest.h"
#include "src/common/ek_cert.h"
#include "src/common/errors.h"
#include "src/common/hex.h"
#include "src/common/keys.h"
#include "src/common/tpm_mu.h"
#include "src/verifier/ak_validation.h"

namespace tpmjoin::agent {
namespace {

using Json = nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr size_t kMaxFileSize = 64 * 1024;

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return InternalError(absl::StrCat(what, " \"", path, "\": ", std::strerror(errno)));
}

// A temp file a writer left behind (crash between mkstemp and rename) is
// removed when it is older than this; a live writer renames within
// milliseconds.
constexpr time_t kStaleTempAge = 10 * 60;

// How many cache files RememberedEks reads at most.
constexpr size_t kMaxRememberedFiles = 8;

constexpr char kPrefix[] = "ak-";
constexpr char kSuffix[] = ".json";
constexpr size_t kHashHexSize = 64;

// "ak-<64 hex>-<rsa|ecc>.json.XXXXXX" (mkstemp's six characters).
bool IsTempFileName(absl::string_view name) {
  const size_t json = name.rfind(absl::StrCat(kSuffix, "."));
  return absl::StartsWith(name, kPrefix) && json != absl::string_view::npos &&
         name.size() == json + std::strlen(kSuffix) + 1 + 6;
}

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

// "ak-....json" or one of its temp files.
bool IsCacheFileName(absl::string_view name) {
  return absl::StartsWith(name, kPrefix) && (absl::EndsWith(name, kSuffix) || IsTempFileName(name));
}

struct FdCloser {
  explicit FdCloser(int fd) : fd(fd) {}
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
  int fd;
};

// A cache file's contents; NOT_FOUND when there is none. Only a regular
// file (not a symlink) that this process owns and nobody else may write is
// read.
absl::StatusOr<std::string> ReadCacheFile(const std::string& path) {
  const FdCloser file(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (file.fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(path);
    return ErrnoError("cannot open", path);
  }
  struct stat st = {};
  if (fstat(file.fd, &st) != 0) return ErrnoError("cannot stat", path);
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
    return InternalError(absl::StrFormat(
        "not a regular file of this process's user that only it may write (uid %d, mode %04o)",
        st.st_uid, st.st_mode & 07777));
  }
  if (st.st_size > static_cast<off_t>(kMaxFileSize)) return InternalError("file too large");
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = read(file.fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoError("cannot read", path);
    done += static_cast<size_t>(n);
  }
  return text;
}

std::string StringField(const Json& json, const char* key) {
  auto it = json.find(key);
  return it != json.end() && it->is_string() ? it->get<std::string>() : std::string();
}

absl::StatusOr<Bytes> HexField(const Json& json, const char* key) {
  auto it = json.find(key);
  if (it == json.end() || !it->is_string()) {
    return InternalError(absl::StrCat("field \"", key, "\" is missing"));
  }
  auto bytes = HexDecode(it->get<std::string>());
  if (!bytes) return InternalError(absl::StrCat("field \"", key, "\" is not hex"));
  return *bytes;
}

// SHA-256 over every field of an entry, each length-prefixed: damage the
// other checks cannot see (a flipped bit in the EK certificate's
// signature, say) still shows.
std::string EntryChecksum(const std::string& ek_pub_hash, KeyAlgorithm algorithm, ByteSpan pub,
                          ByteSpan priv, const CachedAk& ak) {
  const std::string algorithm_name(KeyAlgorithmName(algorithm));
  const Bytes no_cert;
  const ByteSpan fields[] = {AsSpan(ek_pub_hash),
                             AsSpan(algorithm_name),
                             pub,
                             priv,
                             ak.attestation.creation_data,
                             ak.attestation.attestation,
                             ak.attestation.signature,
                             ak.ek_cert_der ? ByteSpan(*ak.ek_cert_der) : ByteSpan(no_cert),
                             AsSpan(ak.ek_template)};
  Bytes framed;
  for (const ByteSpan& field : fields) {
    const uint64_t n = field.size();
    for (int shift = 56; shift >= 0; shift -= 8) framed.push_back(static_cast<uint8_t>(n >> shift));
    framed.insert(framed.end(), field.begin(), field.end());
  }
  absl::StatusOr<Bytes> digest = Digest(EVP_sha256(), {framed});
  return digest.ok() ? HexEncode(*digest) : std::string();
}

// A renewal sends the stored attestation and EK certificate as they are.
// What the TPM does not check when it loads the AK (the creation data, the
// attestation, its signature, the certificate) is checked here, as a
// verifier will: a damaged entry is replaced instead of failing every
// renewal at the server.
absl::Status CheckSentParts(const CachedAk& ak, const std::string& ek_pub_hash) {
  v1::TPMAttestationParameters params;
  const AkAttestation& att = ak.attestation;
  params.set_public_(att.public_area.data(), att.public_area.size());
  params.set_create_data(att.creation_data.data(), att.creation_data.size());
  params.set_create_attestation(att.attestation.data(), att.attestation.size());
  params.set_create_signature(att.signature.data(), att.signature.size());
  absl::StatusOr<verifier::AkAttestation> parsed = verifier::ParseAkAttestation(params);
  if (!parsed.ok()) {
    return InternalError(absl::StrCat("its attestation is damaged: ", parsed.status().message()));
  }
  if (auto judged = verifier::CheckAkAttestation(*parsed); !judged.ok()) {
    return InternalError(
        absl::StrCat("a verifier would deny its attestation: ", judged.status().message()));
  }
  if (!ak.ek_cert_der) return absl::OkStatus();
  const absl::StatusOr<Bytes> pkix = CertificatePkixDer(*ak.ek_cert_der);
  if (!pkix.ok()) {
    return InternalError(absl::StrCat("its EK certificate is damaged: ", pkix.status().message()));
  }
  TPMJOIN_ASSIGN_OR_RETURN(const std::string cert_ek_hash, EkPubHash(*pkix));
  if (cert_ek_hash != ek_pub_hash) {
    return InternalError("its EK certificate is for another EK");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CachedAk> ParseCachedAk(absl::string_view text, const std::string& ek_pub_hash,
                                       KeyAlgorithm algorithm) {
  const Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return InternalError("not a JSON object");
  const auto version = json.find("version");
  if (version == json.end() || !version->is_number_integer() ||
      version->get<int64_t>() != kFormatVersion) {
    return InternalError("unknown format version");
  }
  if (StringField(json, "ek_pub_hash") != ek_pub_hash) {
    return InternalError("made for another EK (another TPM, or its endorsement seed changed)");
  }
  if (StringField(json, "ak_algorithm") != KeyAlgorithmName(algorithm)) {
    return InternalError("made for another AK algorithm");
  }
  CachedAk ak;
  TPMJOIN_ASSIGN_OR_RETURN(Bytes pub, HexField(json, "public"));
  TPMJOIN_ASSIGN_OR_RETURN(ak.public_area, Unmarshal<TPM2B_PUBLIC>(pub, "public"));
  TPMJOIN_ASSIGN_OR_RETURN(Bytes priv, HexField(json, "private"));
  TPMJOIN_ASSIGN_OR_RETURN(ak.private_area, Unmarshal<TPM2B_PRIVATE>(priv, "private"));
  TPMJOIN_ASSIGN_OR_RETURN(ak.attestation.public_area, Marshal(ak.public_area.publicArea));
  TPMJOIN_ASSIGN_OR_RETURN(ak.attestation.creation_data, HexField(json, "create_data"));
  TPMJOIN_ASSIGN_OR_RETURN(ak.attestation.attestation, HexField(json, "create_attestation"));
  TPMJOIN_ASSIGN_OR_RETURN(ak.attestation.signature, HexField(json, "create_signature"));
  if (json.contains("ek_cert")) {
    TPMJOIN_ASSIGN_OR_RETURN(ak.ek_cert_der, HexField(json, "ek_cert"));
  }
  ak.ek_template = StringField(json, "ek_template");
  TPMJOIN_RETURN_IF_ERROR(CheckSentParts(ak, ek_pub_hash));
  const std::string checksum = EntryChecksum(ek_pub_hash, algorithm, pub, priv, ak);
  if (checksum.empty() || StringField(json, "sha256") != checksum) {
    return InternalError("its checksum (\"sha256\") is missing or does not match: damaged");
  }
  return ak;
}

void Warn(absl::string_view message) {
  std::fprintf(stderr, "libtpmjoin: warning: %.*s\n", static_cast<int>(message.size()),
               message.data());
}

absl::Status AkCache::CheckDirectory(bool create) const {
  if (create && mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("cannot create ak_cache_dir", dir_);
  }
  struct stat st = {};
  if (stat(dir_.c_str(), &st) != 0) {
    if (errno == ENOENT && !create) return absl::NotFoundError("no ak_cache_dir yet");
    return ErrnoError("cannot stat ak_cache_dir", dir_);
  }
  if (!S_ISDIR(st.st_mode)) {
    return InternalError(absl::StrCat("ak_cache_dir \"", dir_, "\" is not a directory"));
  }
  if (st.st_uid != geteuid()) {
    return InternalError(absl::StrCat("ak_cache_dir \"", dir_, "\" belongs to uid ", st.st_uid,
                                      ", not to this process (uid ", geteuid(),
                                      "); refusing to use it"));
  }
  const mode_t mode = st.st_mode & 07777;
  if ((mode & 077) == 0) return absl::OkStatus();
  if (mode & S_ISVTX) {
    return InternalError(absl::StrFormat(
        "ak_cache_dir \"%s\" is a shared directory (mode %04o); refusing to use it: point "
        "ak_cache_dir at a private directory",
        dir_, mode));
  }
  if (chmod(dir_.c_str(), 0700) != 0) {
    return ErrnoError(absl::StrFormat("ak_cache_dir has mode %04o and cannot be set to 0700", mode),
                      dir_);
  }
  if ((mode & 022) == 0) {
    Warn(absl::StrFormat("ak_cache_dir \"%s\" had mode %04o; set it to 0700", dir_, mode));
    return absl::OkStatus();
  }
  // Others could write to it: anything in it may have been planted.
  Warn(absl::StrFormat(
      "ak_cache_dir \"%s\" had mode %04o, writable by others; set it to 0700 and removed the "
      "%d cache files in it, which anyone could have planted",
      dir_, mode, RemoveCacheFiles(/*stale_temp_files_only=*/false)));
  return absl::OkStatus();
}

std::string AkCache::PathFor(const std::string& ek_pub_hash, KeyAlgorithm algorithm) const {
  return absl::StrCat(dir_, "/ak-", ek_pub_hash, "-", KeyAlgorithmName(algorithm), ".json");
}

std::optional<CachedAk> AkCache::Lookup(const std::string& ek_pub_hash,
                                        KeyAlgorithm algorithm) const {
  if (const absl::Status dir = CheckDirectory(/*create=*/false); !dir.ok()) {
    if (!absl::IsNotFound(dir)) {
      Warn(absl::StrCat("ignoring the AK cache: ", dir.message(), "; making a new AK"));
    }
    return std::nullopt;
  }
  const std::string path = PathFor(ek_pub_hash, algorithm);
  absl::StatusOr<std::string> text = ReadCacheFile(path);
  if (absl::IsNotFound(text.status())) return std::nullopt;  // nothing cached yet
  absl::StatusOr<CachedAk> ak =
      text.ok() ? ParseCachedAk(*text, ek_pub_hash, algorithm) : text.status();
  if (!ak.ok()) {
    Warn(absl::StrCat("ignoring the cached AK \"", path, "\": ", ak.status().message(),
                      "; making a new AK"));
    return std::nullopt;
  }
  return *std::move(ak);
}

absl::Status AkCache::Store(const std::string& ek_pub_hash, KeyAlgorithm algorithm,
                            const CachedAk& ak) const {
  TPMJOIN_RETURN_IF_ERROR(CheckDirectory(/*create=*/true));
  RemoveCacheFiles(/*stale_temp_files_only=*/true);
  TPMJOIN_ASSIGN_OR_RETURN(Bytes pub, Marshal(ak.public_area));
  TPMJOIN_ASSIGN_OR_RETURN(Bytes priv, Marshal(ak.private_area));
  Json json = {
      {"version", kFormatVersion},
      {"ek_pub_hash", ek_pub_hash},
      {"ak_algorithm", std::string(KeyAlgorithmName(algorithm))},
      {"public", HexEncode(pub)},
      {"private", HexEncode(priv)},
      {"create_data", HexEncode(ak.attestation.creation_data)},
      {"create_attestation", HexEncode(ak.attestation.attestation)},
      {"create_signature", HexEncode(ak.attestation.signature)},
  };
  if (ak.ek_cert_der) json["ek_cert"] = HexEncode(*ak.ek_cert_der);
  if (!ak.ek_template.empty()) json["ek_template"] = ak.ek_template;
  json["sha256"] = EntryChecksum(ek_pub_hash, algorithm, pub, priv, ak);
  const std::string text = json.dump(1);

  const std::string path = PathFor(ek_pub_hash, algorithm);
  std::string tmp = path + ".XXXXXX";
  const int fd = mkstemp(tmp.data());  // 0600
  if (fd < 0) return ErrnoError("cannot create a file in ak_cache_dir", dir_);
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    const absl::Status error = ErrnoError("cannot write", path);
    unlink(tmp.c_str());
    return error;
  }
  const int dir_fd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return absl::OkStatus();
}

void AkCache::Forget(const std::string& ek_pub_hash, KeyAlgorithm algorithm) const {
  unlink(PathFor(ek_pub_hash, algorithm).c_str());
}

int AkCache::RemoveCacheFiles(bool stale_temp_files_only) const {
  DirPtr dir(opendir(dir_.c_str()));
  if (!dir) return 0;
  const time_t now = time(nullptr);
  int removed = 0;
  while (const dirent* entry = readdir(dir.get())) {
    if (stale_temp_files_only ? !IsTempFileName(entry->d_name)
                              : !IsCacheFileName(entry->d_name)) {
      continue;
    }
    struct stat st = {};
    if (fstatat(dirfd(dir.get()), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        S_ISDIR(st.st_mode)) {
      continue;
    }
    if (stale_temp_files_only &&
        (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || now - st.st_mtime < kStaleTempAge)) {
      continue;
    }
    if (unlinkat(dirfd(dir.get()), entry->d_name, 0) == 0) ++removed;
  }
  return removed;
}

std::vector<RememberedEk> AkCache::RememberedEks(KeyAlgorithm algorithm) const {
  if (!CheckDirectory(/*create=*/false).ok()) return {};
  DirPtr dir(opendir(dir_.c_str()));
  if (!dir) return {};
  // "ak-<ek_pub_hash>-<algorithm>.json", newest first.
  const std::string tail = absl::StrCat("-", KeyAlgorithmName(algorithm), kSuffix);
  std::vector<std::pair<time_t, std::string>> hashes;
  while (const dirent* entry = readdir(dir.get())) {
    const absl::string_view name = entry->d_name;
    if (name.size() != std::strlen(kPrefix) + kHashHexSize + tail.size() ||
        !absl::StartsWith(name, kPrefix) || !absl::EndsWith(name, tail)) {
      continue;
    }
    struct stat st = {};
    if (fstatat(dirfd(dir.get()), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode)) {
      continue;
    }
    hashes.emplace_back(st.st_mtime,
                        std::string(name.substr(std::strlen(kPrefix), kHashHexSize)));
  }
  std::sort(hashes.begin(), hashes.end(), std::greater<>());
  if (hashes.size() > kMaxRememberedFiles) hashes.resize(kMaxRememberedFiles);
  std::vector<RememberedEk> out;
  for (const auto& [mtime, hash] : hashes) {
    auto text = ReadCacheFile(PathFor(hash, algorithm));
    if (!text.ok()) continue;
    auto ak = ParseCachedAk(*text, hash, algorithm);
    if (ak.ok() && !ak->ek_template.empty()) out.push_back({ak->ek_template, hash});
  }
  return out;
}

}  // namespace tpmjoin::agent
