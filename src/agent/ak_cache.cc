#include "src/agent/ak_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "src/common/errors.h"
#include "src/common/hex.h"
#include "src/common/tpm_mu.h"

namespace tpmjoin::agent {
namespace {

using Json = nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr size_t kMaxFileSize = 64 * 1024;

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return InternalError(absl::StrCat(what, " \"", path, "\": ", std::strerror(errno)));
}

// Creates the directory (0700) when missing; refuses one that others may
// write to.
absl::Status EnsureDirectory(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("cannot create ak_cache_dir", dir);
  }
  struct stat st = {};
  if (stat(dir.c_str(), &st) != 0) return ErrnoError("cannot stat ak_cache_dir", dir);
  if (!S_ISDIR(st.st_mode)) return InternalError(absl::StrCat("ak_cache_dir \"", dir, "\" is not a directory"));
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return InternalError(absl::StrCat("ak_cache_dir \"", dir,
                                      "\" is writable by others; refusing to use it (chmod 700)"));
  }
  return absl::OkStatus();
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
  return ak;
}

void Warn(absl::string_view message) {
  std::fprintf(stderr, "libtpmjoin: warning: %.*s\n", static_cast<int>(message.size()),
               message.data());
}

std::string AkCache::PathFor(const std::string& ek_pub_hash, KeyAlgorithm algorithm) const {
  return absl::StrCat(dir_, "/ak-", ek_pub_hash, "-", KeyAlgorithmName(algorithm), ".json");
}

std::optional<CachedAk> AkCache::Lookup(const std::string& ek_pub_hash,
                                        KeyAlgorithm algorithm) const {
  const std::string path = PathFor(ek_pub_hash, algorithm);
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;  // nothing cached yet
  std::string text;
  text.resize(kMaxFileSize + 1);
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(file.gcount()));
  absl::StatusOr<CachedAk> ak = text.size() > kMaxFileSize
                                    ? absl::StatusOr<CachedAk>(InternalError("file too large"))
                                    : ParseCachedAk(text, ek_pub_hash, algorithm);
  if (!ak.ok()) {
    Warn(absl::StrCat("ignoring the cached AK \"", path, "\": ", ak.status().message(),
                      "; making a new AK"));
    return std::nullopt;
  }
  return *std::move(ak);
}

absl::Status AkCache::Store(const std::string& ek_pub_hash, KeyAlgorithm algorithm,
                            const CachedAk& ak) const {
  TPMJOIN_RETURN_IF_ERROR(EnsureDirectory(dir_));
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

}  // namespace tpmjoin::agent
