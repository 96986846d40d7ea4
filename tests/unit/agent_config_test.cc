#include <gtest/gtest.h>

#include <cstring>

#include "src/agent/config.h"
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
                    Rejection{R"({"tcti":"x","ak_cache":"/tmp"})", "unknown config key"}));

TEST(AgentConfig, PasswordsNeverAppearInMessages) {
  auto config = ParseAgentConfig(R"({"owner_auth":"s3cret","bogus":1})", NoEnv);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().find("s3cret"), absl::string_view::npos);
}

}  // namespace
}  // namespace tpmjoin::agent
