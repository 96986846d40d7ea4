// Serializing a message that holds the recovered secret
// (challenge_response.solution) without leaving copies behind.
#ifndef TPMJOIN_SRC_AGENT_SECRET_MESSAGE_H_
#define TPMJOIN_SRC_AGENT_SECRET_MESSAGE_H_

#include <openssl/crypto.h>

#include <string>

#include "absl/status/statusor.h"
#include "src/common/bytes.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {

// Serializes `message` (a RegisterUsingTPMMethodRequest with
// challenge_response set) into wiped memory, and wipes the message's own
// copy of the solution on every path, failures included. A template only
// so that tests can drive the failure path with a stand-in message.
template <typename Message>
absl::StatusOr<SecureBytes> SerializeSecret(Message& message) {
  struct Wipe {
    Message& message;
    ~Wipe() {
      std::string* solution = message.mutable_challenge_response()->mutable_solution();
      OPENSSL_cleanse(solution->data(), solution->size());
    }
  } wipe{message};
  SecureBytes out(message.ByteSizeLong());
  if (!message.SerializeToArray(out.data(), static_cast<int>(out.size()))) {
    return InternalError("cannot serialize RegisterUsingTPMMethodRequest");
  }
  return out;
}

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_SECRET_MESSAGE_H_
