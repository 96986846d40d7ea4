#include "cli/abi_helpers.h"

#include <fstream>
#include <iterator>

namespace tpmjoin_cli {

void Check(tpmjoin_status status) {
  if (status != TPMJOIN_OK) throw AbiError(status, tpmjoin_last_error());
}

const char* StatusName(tpmjoin_status status) {
  switch (status) {
    case TPMJOIN_OK: return "TPMJOIN_OK";
    case TPMJOIN_ERR_INVALID_ARGUMENT: return "TPMJOIN_ERR_INVALID_ARGUMENT";
    case TPMJOIN_ERR_BAD_MESSAGE: return "TPMJOIN_ERR_BAD_MESSAGE";
    case TPMJOIN_ERR_TPM: return "TPMJOIN_ERR_TPM";
    case TPMJOIN_ERR_TPM_UNAVAILABLE: return "TPMJOIN_ERR_TPM_UNAVAILABLE";
    case TPMJOIN_ERR_STATE: return "TPMJOIN_ERR_STATE";
    case TPMJOIN_ERR_DENIED: return "TPMJOIN_ERR_DENIED";
    case TPMJOIN_ERR_INTERNAL: return "TPMJOIN_ERR_INTERNAL";
  }
  return "unknown status";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read \"" + path + "\"");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace tpmjoin_cli
