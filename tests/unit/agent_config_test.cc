#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "src/agent/config.h"
#include "src/agent/password.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

const char* NoEnv(const char*) { return nullptr; }
const char* ToolsEnv(const char* name) {
  if (std::strcmp(name, "TPM2TOOLS_TCTI") == 0) return "swtpm:port=2321";
  if (std::strcmp(name, "TCTI") == 0) return "mssim:port=2321";
  return nullptr;
}
const char* TctiEnv(const char* name) {
  return std::strcmp(name, "TCTI") == 0 ? "mssim:port=2321" : nullptr;
}
const char* EmptyToolsEnv(const char* name) {
  if (std::strcmp(name, "TPM2TOOLS_TCTI") == 0) return "";
  return TctiEnv(name);
}

TEST(AgentConfig, DefaultsForNullEmptyAndEmptyObject) {
  for (const char* json : {static_cast<const char*>(nullptr), "", "{}", " { } "}) {
    auto config = ParseAgentConfig(json, NoEnv);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->tcti, "device:/dev/tpmrm0");
    EXPECT_EQ(config->ek_algorithm, KeyAlgorithm::kRsa);
    EXPECT_EQ(config->ak_algorithm, KeyAlgorithm::kRsa);
    EXPECT_TRUE(config->endorsement_auth.empty());
    EXPECT_TRUE(config->owner_auth.empty());
    EXPECT_FALSE(config->ek_cert_file.has_value());
  }
}

TEST(AgentConfig, TctiFromEnvironmentInOrder) {
  EXPECT_EQ(ParseAgentConfig("{}", ToolsEnv)->tcti, "swtpm:port=2321");
  EXPECT_EQ(ParseAgentConfig("{}", TctiEnv)->tcti, "mssim:port=2321");
  EXPECT_EQ(ParseAgentConfig("{}", EmptyToolsEnv)->tcti, "mssim:port=2321");
  EXPECT_EQ(ParseAgentConfig(R"({"tcti":"device:/dev/tpm0"})", ToolsEnv)->tcti,
            "device:/dev/tpm0");
}

TEST(AgentConfig, EveryKey) {
  auto config = ParseAgentConfig(R"({"tcti":"swtpm:port=1","ek_algorithm":"ecc",
      "ak_algorithm":"ecc","endorsement_auth":"e","owner_auth":"o","ek_cert_file":"/x.pem"})",
                                 NoEnv);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tcti, "swtpm:port=1");
  EXPECT_EQ(config->ek_algorithm, KeyAlgorithm::kEcc);
  EXPECT_EQ(config->ak_algorithm, KeyAlgorithm::kEcc);
  EXPECT_EQ(std::string(config->endorsement_auth.begin(), config->endorsement_auth.end()), "e");
  EXPECT_EQ(std::string(config->owner_auth.begin(), config->owner_auth.end()), "o");
  EXPECT_EQ(config->ek_cert_file, "/x.pem");
}

struct Rejection {
  const char* json;
  const char* message;
};

class AgentConfigRejection : public testing::TestWithParam<Rejection> {};

TEST_P(AgentConfigRejection, IsInvalidArgumentNamingTheKey) {
  auto config = ParseAgentConfig(GetParam().json, NoEnv);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(AbiCodeOf(config.status()), AbiCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find(GetParam().message), absl::string_view::npos)
      << config.status();
}

INSTANTIATE_TEST_SUITE_P(
    All, AgentConfigRejection,
    testing::Values(Rejection{"{", "not valid JSON"}, Rejection{"nul", "not valid JSON"},
                    Rejection{"[]", "must be a JSON object"},
                    Rejection{"\"rsa\"", "must be a JSON object"},
                    Rejection{R"({"tcti":1})", "\"tcti\" must be a string"},
                    Rejection{R"({"tcti":""})", "\"tcti\" must not be empty"},
                    Rejection{R"({"ek_algorithm":"RSA"})", "\"ek_algorithm\" must be"},
                    Rejection{R"({"ek_algorithm":true})", "\"ek_algorithm\" must be a string"},
                    Rejection{R"({"ak_algorithm":"ecdsa"})", "\"ak_algorithm\" must be"},
                    Rejection{R"({"endorsement_auth":5})", "\"endorsement_auth\" must be"},
                    Rejection{R"({"owner_auth":null})", "\"owner_auth\" must be"},
                    Rejection{
                        R"({"owner_auth":"0123456789012345678901234567890123456789012345678901234567890123456789"})",
                        "longer than 64 bytes"},
                    Rejection{R"({"ek_cert_file":""})", "\"ek_cert_file\" must not be empty"},
                    Rejection{R"({"ek_cert_file":{}})", "\"ek_cert_file\" must be a string"},
                    Rejection{R"({"Tcti":"x"})", "unknown config key \"Tcti\""},
                    Rejection{R"({"tcti":"x","ak_cache":"/tmp"})", "unknown config key"},
                    Rejection{R"({"ak_cache_dir":""})", "\"ak_cache_dir\" must not be empty"},
                    Rejection{R"({"ak_cache_dir":7})", "\"ak_cache_dir\" must be a string"},
                    Rejection{R"({"ak_cache_dir":["/a"]})", "\"ak_cache_dir\" must be a string"},
                    Rejection{R"({"parameter_encryption":"yes"})",
                              "\"parameter_encryption\" must be true or false"},
                    Rejection{R"({"parameter_encryption":1})",
                              "\"parameter_encryption\" must be true or false"},
                    Rejection{R"({"parameter_encryption":null})",
                              "\"parameter_encryption\" must be true or false"},
                    Rejection{R"({"owner_auth":{"v":"x"}})", "\"owner_auth\" must be a string"},
                    Rejection{R"({"tcti":"a","tcti":"b"})", "\"tcti\" appears more than once"},
                    Rejection{R"({"owner_auth":"a","owner_auth":"b"})",
                              "\"owner_auth\" appears more than once"},
                    Rejection{R"({"tcti":"a"} {})", "not valid JSON"},
                    Rejection{R"({"owner_auth":"unterminated)", "not valid JSON"}));

TEST(AgentConfig, CacheAndEncryptionKeys) {
  auto config =
      ParseAgentConfig(R"({"ak_cache_dir":"/var/cache/x","parameter_encryption":false})", NoEnv);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ak_cache_dir, "/var/cache/x");
  EXPECT_FALSE(config->parameter_encryption);
  EXPECT_TRUE(ParseAgentConfig("{}", NoEnv)->parameter_encryption);
}

TEST(AgentConfig, ExactlySixtyFourBytePasswordIsAccepted) {
  const std::string password(Password::kMaxSize, 'p');
  auto config = ParseAgentConfig(
      absl::StrCat(R"({"owner_auth":")", password, R"("})").c_str(), NoEnv);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->owner_auth.view(), password);
}

// A short password would sit in std::string's small-string buffer, which no
// allocator sees (so the cleansing allocator would never wipe it): every
// Password, and every copy of one, keeps its characters on the heap.
TEST(Password, ShortPasswordsLiveOnTheHeap) {
  const Password empty;
  EXPECT_TRUE(empty.OnHeap());
  const Password short_one("e-secret");
  EXPECT_TRUE(short_one.OnHeap());
  EXPECT_EQ(short_one.view(), "e-secret");

  Password copy(short_one);
  Password moved(std::move(copy));
  Password assigned;
  assigned = short_one;
  Password move_assigned;
  move_assigned = Password("x");
  for (const Password* p : {&copy, &moved, &assigned, &move_assigned}) {
    EXPECT_TRUE(p->OnHeap());
  }
  EXPECT_EQ(moved.view(), "e-secret");
  EXPECT_EQ(assigned.view(), "e-secret");
  EXPECT_EQ(move_assigned.view(), "x");
}

TEST(Password, ReassigningOverwritesInPlace) {
  Password p("a-longer-password");
  const char* buffer = p.begin();
  p.Assign("short");
  EXPECT_EQ(p.begin(), buffer);
  EXPECT_EQ(p.view(), "short");
  // The tail of the old value is gone, not just past the new end.
  EXPECT_EQ(std::string(buffer + 5, buffer + 17), std::string(12, '\0'));
}

// Whether the characters of `password` are stored outside the object itself
// (written against the container interface only, so that it holds for any
// string-like password type).
template <typename T>
bool CharactersOutsideObject(const T& password) {
  const char* chars = &*password.begin();
  const auto* self = reinterpret_cast<const char*>(&password);
  return chars < self || chars >= self + sizeof(password);
}

TEST(AgentConfig, ParsedPasswordsLiveOnTheHeapAlsoInCopies) {
  auto config = ParseAgentConfig(R"({"endorsement_auth":"e","owner_auth":"o-secret"})", NoEnv);
  ASSERT_TRUE(config.ok()) << config.status();
  const AgentConfig copy = *config;
  AgentConfig moved = std::move(*config);
  for (const AgentConfig* c : {&copy, static_cast<const AgentConfig*>(&moved)}) {
    EXPECT_TRUE(CharactersOutsideObject(c->endorsement_auth));
    EXPECT_TRUE(CharactersOutsideObject(c->owner_auth));
  }
  EXPECT_EQ(std::string(copy.owner_auth.begin(), copy.owner_auth.end()), "o-secret");
  EXPECT_EQ(std::string(moved.owner_auth.begin(), moved.owner_auth.end()), "o-secret");
}

TEST(AgentConfig, PasswordsNeverAppearInMessages) {
  auto config = ParseAgentConfig(R"({"owner_auth":"s3cret","bogus":1})", NoEnv);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().find("s3cret"), absl::string_view::npos);
}

}  // namespace
}  // namespace tpmjoin::agent
