// The agent's config JSON (parsing only: no TPM is contacted).
#include <cstddef>
#include <cstdint>
#include <string>

#include "src/agent/config.h"
#include "src/common/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = tpmjoin::agent::ParseAgentConfig(text.c_str(), [](const char*) -> const char* {
    return nullptr;
  });
  if (!config.ok() &&
      tpmjoin::AbiCodeOf(config.status()) != tpmjoin::AbiCode::kInvalidArgument) {
    std::abort();
  }
  if (config.ok() && config->tcti.empty()) std::abort();
  return 0;
}
