// Parsing the server's challenge (a RegisterUsingTPMMethodResponse with
// challenge_request): the bytes an agent reads from the network.
#ifndef TPMJOIN_SRC_AGENT_CHALLENGE_H_
#define TPMJOIN_SRC_AGENT_CHALLENGE_H_

#include <tss2/tss2_tpm2_types.h>

#include "absl/status/statusor.h"
#include "src/common/bytes.h"

namespace tpmjoin::agent {

struct Credential {
  TPM2B_ID_OBJECT credential_blob;
  TPM2B_ENCRYPTED_SECRET secret;
};

// BAD_MESSAGE unless `challenge` is a serialized
// RegisterUsingTPMMethodResponse with a challenge_request whose two fields
// are exactly a non-empty TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET (with
// their size prefixes, as Teleport sends them).
absl::StatusOr<Credential> ParseChallenge(ByteSpan challenge);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_CHALLENGE_H_
