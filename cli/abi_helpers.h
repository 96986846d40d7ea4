// Small C++ conveniences over the C ABI for the CLI.
#ifndef TPMJOIN_CLI_ABI_HELPERS_H_
#define TPMJOIN_CLI_ABI_HELPERS_H_

#include <stdexcept>
#include <string>

#include "tpmjoin.h"
#include "tpmjoin_verifier.h"

namespace tpmjoin_cli {

// Exit codes (documented in --help).
enum ExitCode {
  kExitOk = 0,
  kExitFailed = 1,       // the operation failed (TPM error, denied, bad file, ...)
  kExitUsage = 2,        // bad command line
  kExitInterrupted = 130,
};

// A failed ABI call: status plus tpmjoin_last_error().
class AbiError : public std::runtime_error {
 public:
  AbiError(tpmjoin_status status, const std::string& message)
      : std::runtime_error(message), status(status) {}
  tpmjoin_status status;
};

// Throws AbiError unless status is TPMJOIN_OK.
void Check(tpmjoin_status status);

// Name of a status ("TPMJOIN_ERR_DENIED").
const char* StatusName(tpmjoin_status status);

// Owner of library output.
class OwnedBytes {
 public:
  OwnedBytes() = default;
  ~OwnedBytes() { tpmjoin_bytes_free(&b_); }
  OwnedBytes(const OwnedBytes&) = delete;
  OwnedBytes& operator=(const OwnedBytes&) = delete;
  tpmjoin_bytes* out() { return &b_; }
  const uint8_t* data() const { return b_.data; }
  size_t size() const { return b_.len; }
  std::string str() const { return std::string(reinterpret_cast<const char*>(b_.data), b_.len); }

 private:
  tpmjoin_bytes b_ = {nullptr, 0};
};

// Reads a whole file; throws std::runtime_error naming it.
std::string ReadFile(const std::string& path);

}  // namespace tpmjoin_cli

#endif  // TPMJOIN_CLI_ABI_HELPERS_H_
