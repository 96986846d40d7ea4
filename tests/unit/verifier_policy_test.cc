// Policy JSON parsing and allow-rule matching.
#include <gtest/gtest.h>

#include "src/verifier/policy.h"
#include "tests/unit/verifier_test_util.h"

namespace tpmjoin::verifier {
namespace {

using testing::CaSpec;
using testing::IssueCertificate;
using testing::TestCert;

const std::string kHash = "1c8b0d8ac3d6e76bbe3d1cfea2c3a4d4c3ff0c4f7d5b1a5b6c7d8e9f0a1b2c3d";

std::string Quoted(const std::string& s) { return nlohmann::json(s).dump(); }

absl::StatusOr<Policy> Parse(const std::string& json) { return ParsePolicy(json); }

TEST(PolicyParse, MinimalPolicy) {
  absl::StatusOr<Policy> policy =
      Parse(R"({"allow":[{"description":"host a","ek_public_hash":")" + kHash + R"("}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  ASSERT_EQ(policy->allow.size(), 1u);
  EXPECT_EQ(policy->allow[0].description, "host a");
  EXPECT_EQ(policy->allow[0].ek_public_hash, kHash);
  EXPECT_FALSE(policy->allow[0].ek_certificate_serial);
  EXPECT_TRUE(policy->ekcert_allowed_cas.empty());
}

TEST(PolicyParse, HashIsStoredLowercase) {
  std::string upper = kHash;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  absl::StatusOr<Policy> policy = Parse(R"({"allow":[{"ek_public_hash":")" + upper + R"("}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->allow[0].ek_public_hash, kHash);
}

TEST(PolicyParse, SerialWithOrWithoutColonsAndLeadingZeros) {
  for (const char* serial : {"00:cd:8f", "cd:8f", "CD8F", "0000cd8f"}) {
    SCOPED_TRACE(serial);
    absl::StatusOr<Policy> policy =
        Parse(absl::StrCat(R"({"allow":[{"ek_public_hash":")", kHash,
                           R"(","ek_certificate_serial":")", serial, R"("}]})"));
    ASSERT_TRUE(policy.ok()) << policy.status();
    EXPECT_EQ(*policy->allow[0].ek_certificate_serial, (Bytes{0xcd, 0x8f}));
  }
}

TEST(PolicyParse, SerialOnlyRuleWithCas) {
  const TestCert ca = IssueCertificate(CaSpec("Root"));
  absl::StatusOr<Policy> policy =
      Parse(absl::StrCat(R"({"allow":[{"ek_certificate_serial":"04:c0:1d"}],)",
                         R"("ekcert_allowed_cas":[)", Quoted(ca.Pem()), "]}"));
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(*policy->allow[0].ek_certificate_serial, (Bytes{0x04, 0xc0, 0x1d}));
  EXPECT_FALSE(policy->allow[0].ek_public_hash);
}

TEST(PolicyParse, HashAndSerialRuleNeedsNoCas) {
  absl::StatusOr<Policy> policy =
      Parse(absl::StrCat(R"({"allow":[{"ek_public_hash":")", kHash,
                         R"(","ek_certificate_serial":"04:c0:1d"}]})"));
  ASSERT_TRUE(policy.ok()) << policy.status();
}

TEST(PolicyParse, SameKeyInDifferentObjectsIsNoDuplicate) {
  absl::StatusOr<Policy> policy =
      Parse(absl::StrCat(R"({"allow":[{"description":"a","ek_public_hash":")", kHash,
                         R"("},{"description":"b","ek_public_hash":")", kHash, R"("}]})"));
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->allow.size(), 2u);
}

TEST(PolicyParse, CertificateLists) {
  const TestCert root = IssueCertificate(CaSpec("Root"));
  const TestCert issuer = IssueCertificate(CaSpec("Issuer", 2), &root);
  absl::StatusOr<Policy> policy =
      Parse(absl::StrCat(R"({"allow":[{"ek_public_hash":")", kHash,
                         R"("}],"ekcert_allowed_cas":[)", Quoted(root.Pem()),
                         R"(],"ekcert_intermediate_cas":[)", Quoted("\n  " + issuer.Pem() + "\n"),
                         "]}"));
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->ekcert_allowed_cas.size(), 1u);
  EXPECT_EQ(policy->ekcert_intermediate_cas.size(), 1u);
}

TEST(PolicyParse, EmptyCaListMeansNoCaCheck) {
  absl::StatusOr<Policy> policy = Parse(
      absl::StrCat(R"({"allow":[{"ek_public_hash":")", kHash, R"("}],"ekcert_allowed_cas":[]})"));
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->ekcert_allowed_cas.empty());
}

struct Rejection {
  std::string json;
  std::string message;
};

class PolicyRejection : public ::testing::TestWithParam<Rejection> {};

TEST_P(PolicyRejection, IsInvalidArgumentNamingTheProblem) {
  EXPECT_INVALID_ARGUMENT(Parse(GetParam().json), GetParam().message);
}

const std::string kRule = R"({"ek_public_hash":")" + kHash + R"("})";
const std::string kNotCertPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeXt0pQpVb7bDbYjbzj1ZfS7JZHcR\n"
    "0S7JeO3Xn7qJZrKkT+1c0cpMUlLkmF0K7J+u9jKb4uYH6hDXvlaIuu4pCw==\n"
    "-----END PUBLIC KEY-----\n";
const std::string kGarbageCertPem =
    "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";

std::vector<Rejection> Rejections() {
  const TestCert ca = IssueCertificate(CaSpec("Root"));
  const std::string two_certs = ca.Pem() + ca.Pem();
  const std::string with_tail = ca.Pem() + "trailing text";
  const std::string with_head = "explanatory text\n" + ca.Pem();
  // RFC 1421 encapsulated headers between BEGIN and the base64.
  std::string with_pem_headers = ca.Pem();
  with_pem_headers.insert(with_pem_headers.find('\n') + 1,
                          "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n");
  // BEGIN without its END line.
  const std::string unterminated = ca.Pem().substr(0, ca.Pem().find("-----END"));
  const auto with_cas = [](const std::string& pem) {
    return absl::StrCat(R"({"allow":[)", kRule, R"(],"ekcert_allowed_cas":[)", Quoted(pem), "]}");
  };
  return {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {R"({})", "\"allow\" is missing"},
      {R"({"allow":[]})", "\"allow\": has no rule"},
      {R"({"allow":{}})", "\"allow\": must be an array"},
      {R"({"allow":[)" + kRule + R"(],"color":"blue"})", "unknown key \"color\""},
      {R"({"allow":["x"]})", "\"allow\"[0]: must be an object"},
      {R"({"allow":[{}]})", "\"allow\"[0]: sets neither ek_public_hash nor ek_certificate_serial"},
      {R"({"allow":[{"description":"only"}]})", "sets neither"},
      {R"({"allow":[{"ek_public_hash":"","ek_certificate_serial":""}]})", "sets neither"},
      {R"({"allow":[)" + kRule + R"(,{"ek_public_hash":")" + kHash + R"(","foo":1}]})",
       "\"allow\"[1]: unknown key \"foo\""},
      {R"({"allow":[{"description":7,"ek_public_hash":")" + kHash + R"("}]})",
       "\"allow\"[0].description: must be a string"},
      {R"({"allow":[{"ek_public_hash":12}]})", "\"allow\"[0].ek_public_hash: must be a string"},
      {R"({"allow":[{"ek_public_hash":null}]})", "must be a string"},
      {R"({"allow":[{"ek_public_hash":"abcd"}]})", "must be 64 hex digits"},
      {R"({"allow":[{"ek_public_hash":")" + kHash.substr(0, 63) + R"(g"}]})",
       "must be 64 hex digits"},
      {R"({"allow":[{"ek_certificate_serial":"zz"}]})",
       "\"allow\"[0].ek_certificate_serial: must be hex bytes"},
      {R"({"allow":[{"ek_certificate_serial":"0:1"}]})", "must be hex bytes"},
      {R"({"allow":[{"ek_certificate_serial":"04::c0"}]})", "must be hex bytes"},
      {R"({"allow":[{"ek_certificate_serial":1234}]})", "must be a string"},
      {R"({"allow":[{"ek_public_hash":")" + kHash + R"(","ek_certificate_serial":"04:"}]})",
       "\"allow\"[0].ek_certificate_serial: must be hex bytes"},
      {R"({"allow":[{"ek_public_hash":")" + kHash + R"(","ek_certificate_serial":"04:c0:"}]})",
       "must be hex bytes"},
      {R"({"allow":[{"ek_public_hash":")" + kHash + R"(","ek_certificate_serial":":04"}]})",
       "must be hex bytes"},
      // A serial names a certificate; without a CA anyone can make one.
      {R"({"allow":[{"ek_certificate_serial":"04:c0:1d"}]})",
       "\"allow\"[0]: sets only ek_certificate_serial, but the policy has no "
       "\"ekcert_allowed_cas\": without a CA that verifies the EK certificate, anyone can make "
       "a certificate with that serial for a key of their own. Add \"ekcert_allowed_cas\" (the "
       "TPM maker's CA), or add the TPM's ek_public_hash to the rule"},
      {R"({"allow":[)" + kRule + R"(,{"description":"x","ek_certificate_serial":"04"}],)"
       R"("ekcert_allowed_cas":[]})",
       "\"allow\"[1]: sets only ek_certificate_serial"},
      {R"({"allow":[{"ek_certificate_serial":"04","ek_public_hash":""}]})",
       "sets only ek_certificate_serial"},
      // Duplicate keys: which value would win is parser-dependent.
      {R"({"allow":[)" + kRule + R"(],"allow":[]})", "policy: duplicate key \"allow\""},
      {R"({"allow":[{"ek_public_hash":")" + kHash + R"(","ek_public_hash":")" +
           std::string(64, 'a') + R"("}]})",
       "policy: duplicate key \"ek_public_hash\" (each key may appear once per object)"},
      {R"({"allow":[{"description":"a","description":"b","ek_public_hash":")" + kHash +
           R"("}]})",
       "duplicate key \"description\""},
      {R"({"allow":[)" + kRule + R"(],"ekcert_allowed_cas":[],"ekcert_allowed_cas":[]})",
       "duplicate key \"ekcert_allowed_cas\""},
      {R"({"allow":[)" + kRule + R"(],"ekcert_allowed_cas":"pem"})",
       "\"ekcert_allowed_cas\": must be an array of PEM strings"},
      {R"({"allow":[)" + kRule + R"(],"ekcert_allowed_cas":[1]})",
       "\"ekcert_allowed_cas\"[0]: must be a string"},
      {with_cas("hello"), "\"ekcert_allowed_cas\"[0]: is not a PEM certificate"},
      {with_cas(kNotCertPem), "is not a PEM certificate"},
      {with_cas(kGarbageCertPem), "\"ekcert_allowed_cas\"[0]: not an X.509 certificate"},
      {with_cas(two_certs), "has data after the certificate"},
      {with_cas(with_tail), "has data after the certificate"},
      {with_cas(with_head), "is not a PEM certificate"},
      {with_cas(with_pem_headers), "\"ekcert_allowed_cas\"[0]: has PEM headers"},
      {with_cas(unterminated), "\"ekcert_allowed_cas\"[0]: is not a well-formed PEM block"},
      {absl::StrCat(R"({"allow":[)", kRule, R"(],"ekcert_intermediate_cas":[)", Quoted(ca.Pem()),
                    "]}"),
       "\"ekcert_intermediate_cas\" is set but \"ekcert_allowed_cas\" is not"},
      {absl::StrCat(R"({"allow":[)", kRule, R"(],"ekcert_allowed_cas":[)", Quoted(ca.Pem()),
                    R"(],"ekcert_intermediate_cas":["nope"]})"),
       "\"ekcert_intermediate_cas\"[0]: is not a PEM certificate"},
  };
}

INSTANTIATE_TEST_SUITE_P(Policies, PolicyRejection, ::testing::ValuesIn(Rejections()));

// --- Matching ---------------------------------------------------------------------

AllowRule HashRule(const std::string& hash) { return AllowRule{"", hash, std::nullopt}; }
AllowRule SerialRule(Bytes serial) { return AllowRule{"", std::nullopt, serial}; }

TEST(RuleMatching, HashComparesCaseInsensitively) {
  std::string upper = kHash;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  EXPECT_TRUE(RuleMatches(HashRule(kHash), {upper, std::nullopt}));
  EXPECT_TRUE(RuleMatches(HashRule(kHash), {kHash, std::nullopt}));
  EXPECT_FALSE(RuleMatches(HashRule(kHash), {kHash.substr(0, 63) + "0", std::nullopt}));
}

TEST(RuleMatching, SerialIgnoresLeadingZeroBytes) {
  const Policy policy =
      Parse(R"({"allow":[{"ek_public_hash":")" + kHash + R"(","ek_certificate_serial":"00:cd:8f"}]})")
          .value();
  const Bytes with_sign_byte = {0x00, 0xcd, 0x8f};
  const Bytes plain = {0xcd, 0x8f};
  const Bytes other = {0xcd, 0x8e};
  EXPECT_TRUE(RuleMatches(policy.allow[0], {kHash, ByteSpan(plain)}));
  EXPECT_TRUE(RuleMatches(policy.allow[0], {kHash, ByteSpan(with_sign_byte)}));
  EXPECT_FALSE(RuleMatches(policy.allow[0], {kHash, ByteSpan(other)}));
}

TEST(RuleMatching, SerialRuleNeverMatchesWithoutCertificate) {
  EXPECT_FALSE(RuleMatches(SerialRule({0x01}), {kHash, std::nullopt}));
}

TEST(RuleMatching, EveryFieldTheRuleSetsMustMatch) {
  const AllowRule both{"both", kHash, Bytes{0x42}};
  const Bytes right = {0x42}, wrong = {0x43};
  EXPECT_TRUE(RuleMatches(both, {kHash, ByteSpan(right)}));
  EXPECT_FALSE(RuleMatches(both, {kHash, ByteSpan(wrong)}));
  EXPECT_FALSE(RuleMatches(both, {std::string(64, '0'), ByteSpan(right)}));
  EXPECT_FALSE(RuleMatches(both, {kHash, std::nullopt}));
}

TEST(RuleMatching, FirstMatchingRuleAndItsLabel) {
  const std::vector<AllowRule> rules = {HashRule(std::string(64, 'a')), SerialRule({0x07}),
                                        AllowRule{"named", kHash, std::nullopt}};
  const Bytes serial = {0x07};
  EXPECT_EQ(FirstMatchingRule(rules, {kHash, ByteSpan(serial)}), 1u);
  EXPECT_EQ(FirstMatchingRule(rules, {kHash, std::nullopt}), 2u);
  EXPECT_EQ(FirstMatchingRule(rules, {std::string(64, 'b'), std::nullopt}), std::nullopt);
  EXPECT_EQ(RuleLabel(rules, 1), "1");
  EXPECT_EQ(RuleLabel(rules, 2), "named");
}

}  // namespace
}  // namespace tpmjoin::verifier
