// The verifier's C ABI, loaded with dlopen exactly as a server embedding
// libtpmjoin.so would (the library sits next to the tests directory in the
// build tree; the test is skipped when it has not been built).
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "abi/tpmjoin_verifier.h"
#include "tests/unit/verifier_test_util.h"

namespace tpmjoin::verifier {
namespace {

using testing::SharedKey;
using testing::SoftwareAk;

struct VerifierAbi {
  void* handle = nullptr;
  decltype(&tpmjoin_verifier_open) open;
  decltype(&tpmjoin_verifier_challenge) challenge;
  decltype(&tpmjoin_verifier_finish) finish;
  decltype(&tpmjoin_challenge_free) challenge_free;
  decltype(&tpmjoin_verifier_close) close;
  decltype(&tpmjoin_ek_info) ek_info;
  decltype(&tpmjoin_bytes_free) bytes_free;
  decltype(&tpmjoin_last_error) last_error;
  decltype(&tpmjoin_abi_version) abi_version;
};

std::string LibraryPath() {
  char exe[PATH_MAX] = {0};
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (len <= 0) return "";
  std::string dir(exe, static_cast<size_t>(len));
  dir = dir.substr(0, dir.rfind('/'));    // .../build/tests
  dir = dir.substr(0, dir.rfind('/'));    // .../build
  return dir + "/libtpmjoin.so";
}

const VerifierAbi* Abi() {
  static const VerifierAbi* abi = [] {
    auto* out = new VerifierAbi;
    out->handle = dlopen(LibraryPath().c_str(), RTLD_NOW | RTLD_LOCAL);
    if (out->handle == nullptr) return out;
#define TPMJOIN_LOAD(field, name) \
  out->field = reinterpret_cast<decltype(out->field)>(dlsym(out->handle, #name))
    TPMJOIN_LOAD(open, tpmjoin_verifier_open);
    TPMJOIN_LOAD(challenge, tpmjoin_verifier_challenge);
    TPMJOIN_LOAD(finish, tpmjoin_verifier_finish);
    TPMJOIN_LOAD(challenge_free, tpmjoin_challenge_free);
    TPMJOIN_LOAD(close, tpmjoin_verifier_close);
    TPMJOIN_LOAD(ek_info, tpmjoin_ek_info);
    TPMJOIN_LOAD(bytes_free, tpmjoin_bytes_free);
    TPMJOIN_LOAD(last_error, tpmjoin_last_error);
    TPMJOIN_LOAD(abi_version, tpmjoin_abi_version);
#undef TPMJOIN_LOAD
    return out;
  }();
  return abi;
}

class VerifierAbiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The library is built with these tests: missing means a broken build.
    ASSERT_NE(Abi()->handle, nullptr) << "cannot dlopen " << LibraryPath();
    ASSERT_NE(Abi()->open, nullptr);
    ASSERT_NE(Abi()->ek_info, nullptr);
  }
  const VerifierAbi& abi = *Abi();

  std::string Policy() const {
    return absl::StrCat(R"({"allow":[{"description":"abi","ek_public_hash":")",
                        testing::PubHashOf(ek.get()), R"("}]})");
  }

  EvpPkeyPtr ek = SharedKey("ecc-p384");
  SoftwareAk ak{"ecc-p256"};
};

const tpmjoin_bytes kGarbage = {reinterpret_cast<uint8_t*>(0x1), 99};

TEST_F(VerifierAbiTest, VersionIsOne) { EXPECT_EQ(abi.abi_version(), 1u); }

TEST_F(VerifierAbiTest, RoundTrip) {
  tpmjoin_verifier* v = nullptr;
  ASSERT_EQ(abi.open(Policy().c_str(), &v), TPMJOIN_OK) << abi.last_error();
  const std::string init = testing::InitWithKey(ak.Build(), ek.get(), "jr");
  tpmjoin_challenge* c = nullptr;
  tpmjoin_bytes response = {};
  ASSERT_EQ(abi.challenge(v, reinterpret_cast<const uint8_t*>(init.data()), init.size(), &c,
                          &response),
            TPMJOIN_OK)
      << abi.last_error();
  ASSERT_NE(c, nullptr);
  abi.close(v);  // challenges do not reference the verifier

  v1::RegisterUsingTPMMethodResponse parsed;
  ASSERT_TRUE(parsed.ParseFromArray(response.data, static_cast<int>(response.len)));
  abi.bytes_free(&response);
  EXPECT_EQ(response.data, nullptr);
  const SecureBytes secret =
      testing::ActivateCredentialInSoftware(ek.get(), ak.Name(),
                                            AsSpan(parsed.challenge_request().credential_blob()),
                                            AsSpan(parsed.challenge_request().secret()))
          .value();
  const std::string answer = testing::Answer(secret);
  tpmjoin_bytes result = {};
  ASSERT_EQ(abi.finish(c, reinterpret_cast<const uint8_t*>(answer.data()), answer.size(), &result),
            TPMJOIN_OK)
      << abi.last_error();
  const nlohmann::json json = nlohmann::json::parse(
      std::string(reinterpret_cast<const char*>(result.data), result.len));
  EXPECT_EQ(json["matched_rule"], "abi");
  EXPECT_EQ(json["join_request"], "anI=");
  abi.bytes_free(&result);

  tpmjoin_bytes again = kGarbage;
  EXPECT_EQ(abi.finish(c, reinterpret_cast<const uint8_t*>(answer.data()), answer.size(), &again),
            TPMJOIN_ERR_STATE);
  EXPECT_EQ(again.data, nullptr);
  EXPECT_EQ(again.len, 0u);
  EXPECT_NE(std::string(abi.last_error()).find("tpmjoin_verifier_finish: "), std::string::npos);
  abi.challenge_free(c);
}

TEST_F(VerifierAbiTest, OpenChecksItsArguments) {
  tpmjoin_verifier* v = reinterpret_cast<tpmjoin_verifier*>(0x1);
  EXPECT_EQ(abi.open(nullptr, &v), TPMJOIN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(v, nullptr);
  EXPECT_EQ(abi.open(Policy().c_str(), nullptr), TPMJOIN_ERR_INVALID_ARGUMENT);
  v = reinterpret_cast<tpmjoin_verifier*>(0x1);
  EXPECT_EQ(abi.open(R"({"allow":[]})", &v), TPMJOIN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(v, nullptr);
  EXPECT_STREQ(abi.last_error(), "tpmjoin_verifier_open: policy: \"allow\": has no rule");
}

TEST_F(VerifierAbiTest, SerialOnlyRuleNeedsCas) {
  tpmjoin_verifier* v = reinterpret_cast<tpmjoin_verifier*>(0x1);
  EXPECT_EQ(abi.open(R"({"allow":[{"ek_certificate_serial":"04:c0:1d"}]})", &v),
            TPMJOIN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(v, nullptr);
  const std::string error = abi.last_error();
  EXPECT_EQ(error.rfind("tpmjoin_verifier_open: policy: \"allow\"[0]: sets only "
                        "ek_certificate_serial, but the policy has no \"ekcert_allowed_cas\"",
                        0),
            0u)
      << error;
  EXPECT_NE(error.find("anyone can make a certificate with that serial"), std::string::npos);
  EXPECT_NE(error.find("Add \"ekcert_allowed_cas\""), std::string::npos);
  EXPECT_NE(error.find("or add the TPM's ek_public_hash to the rule"), std::string::npos);
}

TEST_F(VerifierAbiTest, EveryCorpusCaLoadsThroughOpen) {
  // Every root and intermediate of ../shared/testdata/ek-certs, as the PEM
  // file holds it, in one policy.
  nlohmann::json cas = nlohmann::json::array();
  for (const auto& [file, cells] : testing::ManifestTable("| File |")) {
    if (cells.size() > 1 && cells[1] != "EK") cas.push_back(testing::EkCertFile(file));
  }
  ASSERT_EQ(cas.size(), 66u);
  const std::string policy =
      nlohmann::json{{"allow", {{{"ek_certificate_serial", "04:c0:1d"}}}},
                     {"ekcert_allowed_cas", cas}}
          .dump();
  tpmjoin_verifier* v = nullptr;
  ASSERT_EQ(abi.open(policy.c_str(), &v), TPMJOIN_OK) << abi.last_error();
  abi.close(v);
}

TEST_F(VerifierAbiTest, ChallengeChecksItsArgumentsAndZeroesOutputs) {
  tpmjoin_verifier* v = nullptr;
  ASSERT_EQ(abi.open(Policy().c_str(), &v), TPMJOIN_OK);
  tpmjoin_challenge* c = reinterpret_cast<tpmjoin_challenge*>(0x1);
  tpmjoin_bytes out = kGarbage;
  const uint8_t byte = 0;
  EXPECT_EQ(abi.challenge(nullptr, &byte, 1, &c, &out), TPMJOIN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(out.data, nullptr);
  EXPECT_EQ(abi.challenge(v, nullptr, 5, &c, &out), TPMJOIN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(abi.challenge(v, &byte, 1, nullptr, &out), TPMJOIN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(abi.challenge(v, &byte, 1, &c, nullptr), TPMJOIN_ERR_INVALID_ARGUMENT);

  const std::string garbage = "\xff\xff";
  c = reinterpret_cast<tpmjoin_challenge*>(0x1);
  out = kGarbage;
  EXPECT_EQ(abi.challenge(v, reinterpret_cast<const uint8_t*>(garbage.data()), garbage.size(), &c,
                          &out),
            TPMJOIN_ERR_BAD_MESSAGE);
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(out.data, nullptr);
  EXPECT_EQ(out.len, 0u);

  SoftwareAk bad("ecc-p256");
  bad.pub.objectAttributes |= TPMA_OBJECT_DECRYPT;
  const std::string denied = testing::InitWithKey(bad.Build(), ek.get());
  EXPECT_EQ(abi.challenge(v, reinterpret_cast<const uint8_t*>(denied.data()), denied.size(), &c,
                          &out),
            TPMJOIN_ERR_DENIED);
  EXPECT_EQ(c, nullptr);
  EXPECT_STREQ(abi.last_error(), "tpmjoin_verifier_challenge: AK attribute decrypt is set (an AK must be a signing-only key)");
  abi.close(v);
}

TEST_F(VerifierAbiTest, FinishChecksItsArguments) {
  tpmjoin_bytes out = kGarbage;
  const uint8_t byte = 0;
  EXPECT_EQ(abi.finish(nullptr, &byte, 1, &out), TPMJOIN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(out.data, nullptr);
  tpmjoin_verifier* v = nullptr;
  ASSERT_EQ(abi.open(Policy().c_str(), &v), TPMJOIN_OK);
  const std::string init = testing::InitWithKey(ak.Build(), ek.get());
  tpmjoin_challenge* c = nullptr;
  tpmjoin_bytes response = {};
  ASSERT_EQ(abi.challenge(v, reinterpret_cast<const uint8_t*>(init.data()), init.size(), &c,
                          &response),
            TPMJOIN_OK);
  abi.bytes_free(&response);
  EXPECT_EQ(abi.finish(c, &byte, 1, nullptr), TPMJOIN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(abi.finish(c, nullptr, 1, &out), TPMJOIN_ERR_INVALID_ARGUMENT);
  const std::string wrong = testing::Answer(Bytes(32, 9));
  out = kGarbage;
  EXPECT_EQ(abi.finish(c, reinterpret_cast<const uint8_t*>(wrong.data()), wrong.size(), &out),
            TPMJOIN_ERR_DENIED);
  EXPECT_EQ(out.data, nullptr);
  abi.challenge_free(c);
  abi.close(v);
}

TEST_F(VerifierAbiTest, FreeFunctionsAcceptNull) {
  abi.challenge_free(nullptr);
  abi.close(nullptr);
}

TEST_F(VerifierAbiTest, EkInfo) {
  const std::string pem = testing::EkCertFile("infineon-ek-ecc-p256-optiga-ca035.pem");
  tpmjoin_bytes out = {};
  ASSERT_EQ(abi.ek_info(reinterpret_cast<const uint8_t*>(pem.data()), pem.size(), &out),
            TPMJOIN_OK)
      << abi.last_error();
  const nlohmann::json json =
      nlohmann::json::parse(std::string(reinterpret_cast<const char*>(out.data), out.len));
  EXPECT_EQ(json["key_type"], "ecc-p256");
  EXPECT_EQ(json["ek_cert_serial"], "71:84:89:89");
  abi.bytes_free(&out);

  out = kGarbage;
  EXPECT_EQ(abi.ek_info(nullptr, 0, &out), TPMJOIN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(out.data, nullptr);
  EXPECT_EQ(abi.ek_info(reinterpret_cast<const uint8_t*>("x"), 1, nullptr),
            TPMJOIN_ERR_INVALID_ARGUMENT);
  out = kGarbage;
  EXPECT_EQ(abi.ek_info(reinterpret_cast<const uint8_t*>("nope"), 4, &out),
            TPMJOIN_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(out.data, nullptr);
  EXPECT_NE(std::string(abi.last_error()).find("tpmjoin_ek_info: neither"), std::string::npos);
}

}  // namespace
}  // namespace tpmjoin::verifier
