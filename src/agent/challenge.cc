#include "src/agent/challenge.h"

#include "abi/tpmjoin.pb.h"
#include "src/common/errors.h"
#include "src/common/tpm_mu.h"

namespace tpmjoin::agent {

absl::StatusOr<Credential> ParseChallenge(ByteSpan challenge) {
  ::tpmjoin::v1::RegisterUsingTPMMethodResponse response;
  if (!response.ParseFromArray(challenge.data(), static_cast<int>(challenge.size()))) {
    return BadMessageError("challenge is not a RegisterUsingTPMMethodResponse");
  }
  if (!response.has_challenge_request()) {
    return BadMessageError(
        response.has_certs()
            ? "expected a challenge_request, got certs (the join is already complete)"
            : "expected a RegisterUsingTPMMethodResponse with challenge_request");
  }
  const auto& request = response.challenge_request();
  Credential out;
  TPMJOIN_ASSIGN_OR_RETURN(
      out.credential_blob,
      Unmarshal<TPM2B_ID_OBJECT>(AsSpan(request.credential_blob()), "credential_blob"));
  TPMJOIN_ASSIGN_OR_RETURN(out.secret,
                           Unmarshal<TPM2B_ENCRYPTED_SECRET>(AsSpan(request.secret()), "secret"));
  if (out.credential_blob.size == 0 || out.secret.size == 0) {
    return BadMessageError("credential_blob and secret must not be empty");
  }
  return out;
}

}  // namespace tpmjoin::agent
