// tpmjoin_identify: the TPM's EK identity, as `tbot tpm identify` shows it.
#ifndef TPMJOIN_SRC_AGENT_IDENTIFY_H_
#define TPMJOIN_SRC_AGENT_IDENTIFY_H_

#include <string>

#include "absl/status/statusor.h"
#include "src/agent/config.h"

namespace tpmjoin::agent {

// Connects, finds the EK (and certificate) as a join would, reads the TPM's
// properties and returns the identify JSON (see abi/tpmjoin.h).
absl::StatusOr<std::string> Identify(const AgentConfig& config);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_IDENTIFY_H_
