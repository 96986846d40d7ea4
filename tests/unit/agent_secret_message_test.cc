#include "src/agent/secret_message.h"

#include <gtest/gtest.h>

#include <string>

#include "abi/tpmjoin.pb.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

std::string Secret() { return std::string("0123456789abcdef0123456789abcdef"); }

TEST(SerializeSecret, SerializesAndWipesTheMessagesCopy) {
  v1::RegisterUsingTPMMethodRequest message;
  message.mutable_challenge_response()->set_solution(Secret());
  auto bytes = SerializeSecret(message);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  v1::RegisterUsingTPMMethodRequest parsed;
  ASSERT_TRUE(parsed.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())));
  EXPECT_EQ(parsed.challenge_response().solution(), Secret());
  EXPECT_EQ(message.challenge_response().solution(), std::string(Secret().size(), '\0'));
}

// Stands in for the protobuf message so that serialization can fail.
struct FailingMessage {
  struct ChallengeResponse {
    std::string solution;
    std::string* mutable_solution() { return &solution; }
  } challenge_response;
  ChallengeResponse* mutable_challenge_response() { return &challenge_response; }
  size_t ByteSizeLong() const { return challenge_response.solution.size() + 4; }
  bool SerializeToArray(void*, int) const { return false; }
};

TEST(SerializeSecret, WipesTheMessagesCopyWhenSerializationFails) {
  FailingMessage message;
  message.challenge_response.solution = Secret();
  auto bytes = SerializeSecret(message);
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(AbiCodeOf(bytes.status()), AbiCode::kInternal);
  EXPECT_EQ(message.challenge_response.solution, std::string(Secret().size(), '\0'));
}

}  // namespace
}  // namespace tpmjoin::agent
