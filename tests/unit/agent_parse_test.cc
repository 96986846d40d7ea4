// The agent's parsers of untrusted bytes: the server's challenge and the AK
// cache file.
#include <gtest/gtest.h>

#include "abi/tpmjoin.pb.h"
#include "src/agent/ak_cache.h"
#include "src/agent/challenge.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

std::string Challenge(const std::string& blob, const std::string& secret) {
  v1::RegisterUsingTPMMethodResponse m;
  m.mutable_challenge_request()->set_credential_blob(blob);
  m.mutable_challenge_request()->set_secret(secret);
  return m.SerializeAsString();
}

const std::string kBlob("\x00\x03" "abc", 5);
const std::string kSecret("\x00\x02" "xy", 4);

TEST(ParseChallenge, AcceptsSizePrefixedFields) {
  auto c = ParseChallenge(AsSpan(Challenge(kBlob, kSecret)));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->credential_blob.size, 3);
  EXPECT_EQ(c->secret.size, 2);
}

TEST(ParseChallenge, RejectsEverythingElseAsBadMessage) {
  v1::RegisterUsingTPMMethodResponse certs;
  certs.set_certs("x");
  v1::RegisterUsingTPMMethodRequest init;
  init.mutable_init()->set_join_request("x");
  const std::string cases[] = {
      "",                                       // no challenge_request
      std::string("\xff\xff\xff", 3),           // not protobuf
      certs.SerializeAsString(),                // the wrong payload
      Challenge("abc", kSecret),                // blob without its size prefix
      Challenge(kBlob + "z", kSecret),          // trailing byte
      Challenge(kBlob.substr(0, 4), kSecret),   // truncated
      Challenge(std::string("\x00\x00", 2), kSecret),  // empty blob
      Challenge(kBlob, std::string("\x00\x00", 2)),    // empty secret
      Challenge(std::string("\xff\xff", 2) + std::string(70000, 'a'), kSecret),  // oversized
  };
  for (const auto& c : cases) {
    auto parsed = ParseChallenge(AsSpan(c));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(AbiCodeOf(parsed.status()), AbiCode::kBadMessage) << parsed.status();
  }
}

TEST(ParseCachedAk, RejectsForeignAndMalformedFiles) {
  const std::string hash(64, 'a');
  const std::string cases[] = {
      "", "[]", "{", R"({"version":"1"})", R"({"version":2})",
      R"({"version":1,"ek_pub_hash":"bb","ak_algorithm":"rsa"})",
      R"({"version":1,"ek_pub_hash":")" + hash + R"(","ak_algorithm":"ecc"})",
      R"({"version":1,"ek_pub_hash":")" + hash + R"(","ak_algorithm":"rsa","public":5})",
      R"({"version":1,"ek_pub_hash":")" + hash + R"(","ak_algorithm":"rsa","public":"zz"})",
      R"({"version":1,"ek_pub_hash":")" + hash + R"(","ak_algorithm":"rsa","public":"0001ff"})",
  };
  for (const auto& text : cases) {
    EXPECT_FALSE(ParseCachedAk(text, hash, KeyAlgorithm::kRsa).ok()) << text;
  }
}

}  // namespace
}  // namespace tpmjoin::agent
