// Verifier and Challenge end to end, in software: a software EK (with its
// private key, to answer the challenge with ActivateCredential's math), a
// software CA, software AKs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/verifier/verifier.h"
#include "tests/unit/verifier_test_util.h"

namespace tpmjoin::verifier {
namespace {

using testing::ActivateCredentialInSoftware;
using testing::Answer;
using testing::EkSpec;
using testing::InitWithCert;
using testing::InitWithKey;
using testing::PubHashOf;
using testing::SharedKey;
using testing::SoftwareAk;
using testing::TestCert;
using testing::TestPki;

std::string Quoted(const std::string& s) { return nlohmann::json(s).dump(); }

struct PolicyBuilder {
  std::vector<std::string> rules;
  std::vector<std::string> cas;
  std::vector<std::string> intermediates;

  PolicyBuilder& AllowHash(const std::string& hash, const std::string& description = "") {
    rules.push_back(absl::StrCat(R"({"description":)", Quoted(description),
                                 R"(,"ek_public_hash":")", hash, R"("})"));
    return *this;
  }
  PolicyBuilder& AllowSerial(const std::string& serial) {
    rules.push_back(absl::StrCat(R"({"ek_certificate_serial":")", serial, R"("})"));
    return *this;
  }
  PolicyBuilder& AllowHashAndSerial(const std::string& hash, const std::string& serial) {
    rules.push_back(absl::StrCat(R"({"ek_public_hash":")", hash, R"(","ek_certificate_serial":")",
                                 serial, R"("})"));
    return *this;
  }
  PolicyBuilder& Ca(const std::string& pem) {
    cas.push_back(Quoted(pem));
    return *this;
  }
  PolicyBuilder& Intermediate(const std::string& pem) {
    intermediates.push_back(Quoted(pem));
    return *this;
  }
  std::string Json() const {
    std::string out = absl::StrCat(R"({"allow":[)", absl::StrJoin(rules, ","), "]");
    if (!cas.empty()) absl::StrAppend(&out, R"(,"ekcert_allowed_cas":[)", absl::StrJoin(cas, ","), "]");
    if (!intermediates.empty()) {
      absl::StrAppend(&out, R"(,"ekcert_intermediate_cas":[)", absl::StrJoin(intermediates, ","),
                      "]");
    }
    return out + "}";
  }
};

std::unique_ptr<Verifier> MakeVerifier(const PolicyBuilder& policy, VerifierOptions options = {}) {
  absl::StatusOr<std::unique_ptr<Verifier>> v = Verifier::New(policy.Json(), options);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? std::move(v).value() : nullptr;
}

// What the agent does with the challenge: ActivateCredential, then answer.
std::string Solve(const Bytes& response_bytes, EVP_PKEY* ek_private, const Bytes& ak_name) {
  v1::RegisterUsingTPMMethodResponse response;
  EXPECT_TRUE(response.ParseFromArray(response_bytes.data(),
                                      static_cast<int>(response_bytes.size())));
  EXPECT_TRUE(response.has_challenge_request());
  absl::StatusOr<SecureBytes> secret = ActivateCredentialInSoftware(
      ek_private, ak_name, AsSpan(response.challenge_request().credential_blob()),
      AsSpan(response.challenge_request().secret()));
  EXPECT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret.value_or(SecureBytes{}).size(), 32u);
  return Answer(secret.value_or(SecureBytes{}));
}

class VerifierTest : public ::testing::Test {
 protected:
  TestPki pki;
  EvpPkeyPtr ek_key = SharedKey("rsa2048");
  TestCert ek_cert = pki.IssueEk(SharedKey("rsa2048"), EkSpec(0x04c01d));
  SoftwareAk ak;
  std::string ek_hash = PubHashOf(ek_key.get());

  // A whole join of `init` (made with ek_key and the AK named `ak_name`):
  // challenge, solve, finish.
  bool Joins(const Verifier& v, const std::string& init, const Bytes& ak_name) const {
    absl::StatusOr<IssuedChallenge> issued = v.NewChallenge(AsSpan(init));
    return issued.ok() &&
           issued->challenge->Finish(AsSpan(Solve(issued->response, ek_key.get(), ak_name))).ok();
  }
};

TEST_F(VerifierTest, RoundTripWithCertificateChainedToTheRoot) {
  auto v = MakeVerifier(PolicyBuilder()
                            .AllowHash(ek_hash, "build host")
                            .Ca(pki.root.Pem())
                            .Intermediate(pki.issuer.Pem()));
  absl::StatusOr<IssuedChallenge> issued =
      v->NewChallenge(AsSpan(InitWithCert(ak.Build(), ek_cert.Der(), "my join request")));
  ASSERT_TRUE(issued.ok()) << issued.status();
  absl::StatusOr<std::string> result =
      issued->challenge->Finish(AsSpan(Solve(issued->response, ek_key.get(), ak.Name())));
  ASSERT_TRUE(result.ok()) << result.status();
  const nlohmann::json json = nlohmann::json::parse(*result);
  EXPECT_EQ(json["ek_pub_hash"], ek_hash);
  EXPECT_EQ(json["ek_cert_serial"], "04:c0:1d");
  EXPECT_EQ(json["ek_cert_verified"], true);
  EXPECT_EQ(json["matched_rule"], "build host");
  EXPECT_EQ(json["tpm_manufacturer"], "id:54455354");
  EXPECT_EQ(json["tpm_model"], "SoftTPM");
  EXPECT_EQ(json["tpm_version"], "id:00010002");
  EXPECT_EQ(json["ak_algorithm"], "rsa2048-rsassa-sha256");
  EXPECT_EQ(json["join_request"], absl::Base64Escape("my join request"));
  EXPECT_EQ(json.size(), 9u);
}

TEST_F(VerifierTest, ResponseCarriesSizePrefixedStructures) {
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash));
  const IssuedChallenge issued =
      v->NewChallenge(AsSpan(InitWithKey(ak.Build(), ek_key.get()))).value();
  v1::RegisterUsingTPMMethodResponse response;
  ASSERT_TRUE(response.ParseFromArray(issued.response.data(),
                                      static_cast<int>(issued.response.size())));
  const std::string& blob = response.challenge_request().credential_blob();
  const std::string& secret = response.challenge_request().secret();
  ASSERT_GE(blob.size(), 2u);
  EXPECT_EQ(static_cast<size_t>(static_cast<uint8_t>(blob[0]) << 8 | static_cast<uint8_t>(blob[1])),
            blob.size() - 2);
  EXPECT_EQ(secret.size(), 2u + 256u);  // TPM2B_ENCRYPTED_SECRET of an RSA-2048 OAEP block
  EXPECT_TRUE(Unmarshal<TPM2B_ID_OBJECT>(AsSpan(blob), "blob").ok());
  EXPECT_TRUE(Unmarshal<TPM2B_ENCRYPTED_SECRET>(AsSpan(secret), "secret").ok());
}

struct KeyPair {
  const char* ek;
  const char* ak;
  TPM2_ALG_ID ak_hash;
};

class VerifierAlgorithms : public ::testing::TestWithParam<KeyPair> {};

TEST_P(VerifierAlgorithms, RoundTripWithEkKeyOnly) {
  EvpPkeyPtr ek = SharedKey(GetParam().ek);
  const SoftwareAk ak(GetParam().ak, GetParam().ak_hash);
  auto v = MakeVerifier(PolicyBuilder().AllowHash(PubHashOf(ek.get())));
  absl::StatusOr<IssuedChallenge> issued = v->NewChallenge(AsSpan(InitWithKey(ak.Build(), ek.get())));
  ASSERT_TRUE(issued.ok()) << issued.status();
  absl::StatusOr<std::string> result =
      issued->challenge->Finish(AsSpan(Solve(issued->response, ek.get(), ak.Name())));
  ASSERT_TRUE(result.ok()) << result.status();
  const nlohmann::json json = nlohmann::json::parse(*result);
  EXPECT_EQ(json["ek_cert_serial"], "");
  EXPECT_EQ(json["ek_cert_verified"], false);
  EXPECT_EQ(json["matched_rule"], "0");
  EXPECT_EQ(json["tpm_model"], "");
}

INSTANTIATE_TEST_SUITE_P(
    EkAndAk, VerifierAlgorithms,
    ::testing::Values(KeyPair{"rsa2048", "rsa2048", TPM2_ALG_SHA256},
                      KeyPair{"rsa2048", "ecc-p256", TPM2_ALG_SHA256},
                      KeyPair{"rsa3072", "rsa2048", TPM2_ALG_SHA256},
                      KeyPair{"rsa4096", "ecc-p384", TPM2_ALG_SHA384},
                      KeyPair{"ecc-p256", "rsa2048", TPM2_ALG_SHA256},
                      KeyPair{"ecc-p384", "ecc-p256", TPM2_ALG_SHA256},
                      KeyPair{"ecc-p384", "rsa2048", TPM2_ALG_SHA256},
                      KeyPair{"ecc-p521", "ecc-p384", TPM2_ALG_SHA384}),
    [](const ::testing::TestParamInfo<KeyPair>& info) {
      std::string name = absl::StrCat("ek_", info.param.ek, "_ak_", info.param.ak);
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST_F(VerifierTest, IssuingCaAloneIsEnough) {
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash).Ca(pki.issuer.Pem()));
  absl::StatusOr<IssuedChallenge> issued =
      v->NewChallenge(AsSpan(InitWithCert(ak.Build(), ek_cert.Der())));
  EXPECT_TRUE(issued.ok()) << issued.status();
}

TEST_F(VerifierTest, MatchBySerial) {
  auto v = MakeVerifier(PolicyBuilder()
                            .AllowHash(std::string(64, 'a'))
                            .AllowSerial("00:04:C0:1D")
                            .Ca(pki.issuer.Pem()));
  absl::StatusOr<IssuedChallenge> issued =
      v->NewChallenge(AsSpan(InitWithCert(ak.Build(), ek_cert.Der())));
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(issued->challenge->result().matched_rule, "1");
}

TEST_F(VerifierTest, MatchByHashAndSerialNeedsNoCa) {
  auto v = MakeVerifier(PolicyBuilder().AllowHashAndSerial(ek_hash, "04:c0:1d"));
  absl::StatusOr<IssuedChallenge> issued =
      v->NewChallenge(AsSpan(InitWithCert(ak.Build(), ek_cert.Der())));
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_FALSE(issued->challenge->result().ek_cert_verified);
}

TEST_F(VerifierTest, SerialOnlyRuleWithoutCasIsRejectedAtOpen) {
  // Without a CA, a serial proves nothing: anyone can make a certificate
  // with that serial for a key of their own.
  for (const std::string& cas : {std::string(), std::string(R"(,"ekcert_allowed_cas":[])")}) {
    SCOPED_TRACE(cas);
    const std::string policy =
        absl::StrCat(R"({"allow":[{"ek_public_hash":")", ek_hash,
                     R"("},{"ek_certificate_serial":"04:c0:1d"}])", cas, "}");
    EXPECT_INVALID_ARGUMENT(
        Verifier::New(policy),
        "policy: \"allow\"[1]: sets only ek_certificate_serial, but the policy has no "
        "\"ekcert_allowed_cas\"");
    EXPECT_INVALID_ARGUMENT(Verifier::New(policy),
                            "Add \"ekcert_allowed_cas\" (the TPM maker's CA), or add the TPM's "
                            "ek_public_hash to the rule");
  }
}

TEST_F(VerifierTest, SelfMadeCertificateWithAnAllowedSerialIsDenied) {
  // The attack a serial-only rule without CAs would let in: a certificate
  // with the allowed serial, made by the client itself over its own key.
  const TestPki attacker;
  const TestCert forged = attacker.IssueEk(SharedKey("ecc-p256"), EkSpec(0x04c01d));
  auto v = MakeVerifier(PolicyBuilder().AllowSerial("04:c0:1d").Ca(pki.issuer.Pem()));
  EXPECT_DENIED(v->NewChallenge(AsSpan(InitWithCert(ak.Build(), forged.Der()))),
                "EK certificate does not chain to any of ekcert_allowed_cas");
  // The genuine certificate with that serial is allowed.
  EXPECT_TRUE(v->NewChallenge(AsSpan(InitWithCert(ak.Build(), ek_cert.Der()))).ok());
}

// --- Denials before any challenge -------------------------------------------------

TEST_F(VerifierTest, RuleMismatchByHashIsDenied) {
  auto v = MakeVerifier(PolicyBuilder().AllowHash(std::string(64, 'a')));
  EXPECT_DENIED(v->NewChallenge(AsSpan(InitWithKey(ak.Build(), ek_key.get()))),
                absl::StrCat("no allow rule matches the EK (ek_public_hash ", ek_hash,
                             ", no EK certificate)"));
}

TEST_F(VerifierTest, RuleMismatchBySerialIsDenied) {
  auto v = MakeVerifier(PolicyBuilder().AllowSerial("04:c0:1e").Ca(pki.issuer.Pem()));
  EXPECT_DENIED(v->NewChallenge(AsSpan(InitWithCert(ak.Build(), ek_cert.Der()))),
                "ek_certificate_serial 04:c0:1d)");
}

TEST_F(VerifierTest, SerialRuleNeedsACertificate) {
  // Hash right, serial set: a request with ek_key only has no serial.
  auto v = MakeVerifier(PolicyBuilder().AllowHashAndSerial(ek_hash, "04:c0:1d"));
  EXPECT_DENIED(v->NewChallenge(AsSpan(InitWithKey(ak.Build(), ek_key.get()))),
                "no allow rule matches");
}

TEST_F(VerifierTest, WrongCaIsDenied) {
  const TestPki other;
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash).Ca(other.root.Pem()));
  EXPECT_DENIED(v->NewChallenge(AsSpan(InitWithCert(ak.Build(), ek_cert.Der()))),
                "EK certificate does not chain to any of ekcert_allowed_cas");
}

TEST_F(VerifierTest, CertificateRequiredButOnlyKeySent) {
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash).Ca(pki.root.Pem()));
  EXPECT_DENIED(v->NewChallenge(AsSpan(InitWithKey(ak.Build(), ek_key.get()))),
                "EK certificate required");
}

TEST_F(VerifierTest, ExpiredCertificateIsDeniedNowButAcceptedInsideItsValidity) {
  testing::CertSpec spec = EkSpec();
  spec.not_before = time(nullptr) - 2 * 3600;  // (the test CA is valid from an hour ago)
  spec.not_after = time(nullptr) - 60;
  const TestCert expired = pki.IssueEk(SharedKey("rsa2048"), spec);
  const PolicyBuilder policy = PolicyBuilder().AllowHash(ek_hash).Ca(pki.issuer.Pem());
  EXPECT_DENIED(MakeVerifier(policy)->NewChallenge(AsSpan(InitWithCert(ak.Build(), expired.Der()))),
                "the EK certificate expired at");
  VerifierOptions then;
  then.verification_time = time(nullptr) - 1800;
  absl::StatusOr<IssuedChallenge> issued =
      MakeVerifier(policy, then)->NewChallenge(AsSpan(InitWithCert(ak.Build(), expired.Der())));
  EXPECT_TRUE(issued.ok()) << issued.status();
}

TEST_F(VerifierTest, BadAkIsDeniedAfterTheRules) {
  SoftwareAk bad;
  bad.pub.objectAttributes &= ~TPMA_OBJECT_FIXEDTPM;
  auto allowed = MakeVerifier(PolicyBuilder().AllowHash(ek_hash));
  EXPECT_DENIED(allowed->NewChallenge(AsSpan(InitWithKey(bad.Build(), ek_key.get()))),
                "AK attribute fixedTPM is not set");
  // An unknown TPM is turned away by the rules before its AK is judged.
  auto other = MakeVerifier(PolicyBuilder().AllowHash(std::string(64, 'b')));
  EXPECT_DENIED(other->NewChallenge(AsSpan(InitWithKey(bad.Build(), ek_key.get()))),
                "no allow rule matches");
}

TEST_F(VerifierTest, MalformedAkIsABadMessageEvenForUnknownTpms) {
  testing::AkParams garbage = ak.Build();
  garbage.create_signature.pop_back();
  auto v = MakeVerifier(PolicyBuilder().AllowHash(std::string(64, 'b')));
  EXPECT_BAD_MESSAGE(v->NewChallenge(AsSpan(InitWithKey(garbage, ek_key.get()))),
                     "attestation_params.create_signature");
}

// Garbage in the AK's TPMT_PUBLIC (ff ff: not even a TPMI_ALG_PUBLIC).
testing::AkParams WithGarbageAkPublic(testing::AkParams ak) {
  ak.public_area = "\xff\xff";
  return ak;
}

TEST_F(VerifierTest, MalformedAkIsABadMessageEvenWhenTheEkKeyTypeWouldBeDenied) {
  // Structure before verdicts: an EK key outside the TCG profile is DENIED
  // only once every structure of the request has parsed.
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash));
  EvpPkeyPtr ed25519 = testing::GenerateKey("ed25519");
  EXPECT_BAD_MESSAGE(v->NewChallenge(AsSpan(InitWithKey(WithGarbageAkPublic(ak.Build()),
                                                         ed25519.get()))),
                     "attestation_params.public");
  EXPECT_DENIED(v->NewChallenge(AsSpan(InitWithKey(ak.Build(), ed25519.get()))),
                "unsupported EK key unknown");
  const TestCert rsa1024 = pki.IssueEk(SharedKey("rsa1024"));
  EXPECT_BAD_MESSAGE(
      v->NewChallenge(AsSpan(InitWithCert(WithGarbageAkPublic(ak.Build()), rsa1024.Der()))),
      "attestation_params.public");
  EXPECT_DENIED(v->NewChallenge(AsSpan(InitWithCert(ak.Build(), rsa1024.Der()))),
                "unsupported EK key rsa1024");
}

TEST_F(VerifierTest, MalformedAkIsABadMessageEvenWhenTheChainWouldBeDenied) {
  const TestPki other;
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash).Ca(other.root.Pem()));
  EXPECT_BAD_MESSAGE(
      v->NewChallenge(AsSpan(InitWithCert(WithGarbageAkPublic(ak.Build()), ek_cert.Der()))),
      "attestation_params.public");
  EXPECT_BAD_MESSAGE(
      v->NewChallenge(AsSpan(InitWithKey(WithGarbageAkPublic(ak.Build()), ek_key.get()))),
      "attestation_params.public");
}

TEST_F(VerifierTest, GarbageAndWrongMessagesAreBadMessages) {
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash));
  EXPECT_BAD_MESSAGE(v->NewChallenge(AsSpan("\xff\xff\xff")),
                     "not a serialized RegisterUsingTPMMethodRequest");
  EXPECT_BAD_MESSAGE(v->NewChallenge(AsSpan(Answer(Bytes(32, 1)))),
                     "expected init, got challenge_response");
  EXPECT_BAD_MESSAGE(v->NewChallenge(ByteSpan()), "expected init, got an empty request");
  v1::RegisterUsingTPMMethodRequest no_ek = testing::InitRequest(ak.Build());
  EXPECT_BAD_MESSAGE(v->NewChallenge(AsSpan(testing::SerializeOrDie(no_ek))),
                     "neither ek_cert nor ek_key");
}

// --- Finish ---------------------------------------------------------------------------

TEST_F(VerifierTest, WrongSolutionIsDeniedAndEndsTheChallenge) {
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash));
  IssuedChallenge issued = v->NewChallenge(AsSpan(InitWithKey(ak.Build(), ek_key.get()))).value();
  const std::string right = Solve(issued.response, ek_key.get(), ak.Name());
  EXPECT_DENIED(issued.challenge->Finish(AsSpan(Answer(Bytes(32, 0)))),
                "wrong solution to the credential challenge");
  EXPECT_TRUE(issued.challenge->finished());
  EXPECT_STATE(issued.challenge->Finish(AsSpan(right)), "already been finished");
}

TEST_F(VerifierTest, SecondFinishIsAStateError) {
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash));
  IssuedChallenge issued = v->NewChallenge(AsSpan(InitWithKey(ak.Build(), ek_key.get()))).value();
  const std::string right = Solve(issued.response, ek_key.get(), ak.Name());
  EXPECT_TRUE(issued.challenge->Finish(AsSpan(right)).ok());
  EXPECT_STATE(issued.challenge->Finish(AsSpan(right)), "already been finished");
}

TEST_F(VerifierTest, ShortAndEmptySolutionsAreDenied) {
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash));
  for (size_t size : {0, 31, 33}) {
    IssuedChallenge issued =
        v->NewChallenge(AsSpan(InitWithKey(ak.Build(), ek_key.get()))).value();
    EXPECT_DENIED(issued.challenge->Finish(AsSpan(Answer(Bytes(size, 0)))), "wrong solution");
  }
}

TEST_F(VerifierTest, GarbageOrWrongKindAtFinishIsABadMessageAndEndsTheChallenge) {
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash));
  const std::string init = InitWithKey(ak.Build(), ek_key.get());
  IssuedChallenge issued = v->NewChallenge(AsSpan(init)).value();
  EXPECT_BAD_MESSAGE(issued.challenge->Finish(AsSpan(init)),
                     "expected challenge_response, got init");
  EXPECT_STATE(issued.challenge->Finish(AsSpan(Solve(issued.response, ek_key.get(), ak.Name()))),
               "");
  IssuedChallenge second = v->NewChallenge(AsSpan(init)).value();
  EXPECT_BAD_MESSAGE(second.challenge->Finish(AsSpan("\x0a\xff")), "not a serialized");
}

TEST_F(VerifierTest, ChallengeOutlivesTheVerifier) {
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash));
  IssuedChallenge issued = v->NewChallenge(AsSpan(InitWithKey(ak.Build(), ek_key.get()))).value();
  v.reset();
  EXPECT_TRUE(
      issued.challenge->Finish(AsSpan(Solve(issued.response, ek_key.get(), ak.Name()))).ok());
}

TEST_F(VerifierTest, EachChallengeHasItsOwnSecret) {
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash));
  const std::string init = InitWithKey(ak.Build(), ek_key.get());
  IssuedChallenge a = v->NewChallenge(AsSpan(init)).value();
  IssuedChallenge b = v->NewChallenge(AsSpan(init)).value();
  EXPECT_DENIED(b.challenge->Finish(AsSpan(Solve(a.response, ek_key.get(), ak.Name()))),
                "wrong solution");
}

constexpr int kThreads = 8;
constexpr int kCallsPerThread = 10;

// Runs `call` kCallsPerThread times on each of kThreads threads at once;
// returns how many calls returned true.
template <typename Call>
int SucceedingOnThreads(Call call) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        if (call()) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return ok.load();
}

TEST_F(VerifierTest, OneVerifierServesManyThreads) {
  auto v = MakeVerifier(PolicyBuilder()
                            .AllowHash(ek_hash)
                            .Ca(pki.root.Pem())
                            .Intermediate(pki.issuer.Pem()));
  const std::string init = InitWithCert(ak.Build(), ek_cert.Der());
  const Bytes name = ak.Name();
  EXPECT_EQ(SucceedingOnThreads([&] { return Joins(*v, init, name); }),
            kThreads * kCallsPerThread);
}

TEST_F(VerifierTest, Tpm12OaepEkServesManyThreads) {
  // TPM 1.2 id-RSAES-OAEP EK certificates: their key, shared by every thread
  // through the EK cache, must be provider-native (a legacy EVP_PKEY is
  // exported to the provider lazily, on first use, by whichever thread uses
  // it first: a data race under TSan).
  testing::CertSpec spec = EkSpec(0x0b0e);
  spec.rsaes_oaep_spki = true;
  const TestCert oaep = pki.IssueEk(SharedKey("rsa2048"), spec);
  auto v = MakeVerifier(PolicyBuilder().AllowHash(ek_hash).Ca(pki.issuer.Pem()));
  const std::string init = InitWithCert(ak.Build(), oaep.Der());
  const Bytes name = ak.Name();
  EXPECT_EQ(SucceedingOnThreads([&] { return Joins(*v, init, name); }),
            kThreads * kCallsPerThread);
  EXPECT_GE(v->ek_cache_stats().hits,
            static_cast<size_t>(kThreads * (kCallsPerThread - 1)));  // a miss per thread at most
}

TEST(VerifierCorpus, RealTpm12OaepEkServesManyThreads) {
  // The same with a real TPM 1.2 EK certificate (Nuvoton, id-RSAES-OAEP
  // key, still valid) and its root: challenges only, its private key is in
  // the TPM.
  X509Ptr cert = testing::LoadEkCert("nuvoton-ek-tpm12-rsa2048-root2010.pem");
  X509Ptr root = testing::LoadEkCert("nuvoton-root-rsa-2010.pem");
  VerifierOptions options;
  options.verification_time = testing::TimeInsideValidity({cert.get(), root.get()});
  const std::string der(AsStringView(CertificateDer(cert.get()).value()));
  EvpPkeyPtr key = CertificatePublicKey(cert.get()).value();
  const std::string policy =
      nlohmann::json{{"allow", {{{"ek_public_hash", PubHashOf(key.get())}}}},
                     {"ekcert_allowed_cas", {testing::EkCertFile("nuvoton-root-rsa-2010.pem")}}}
          .dump();
  auto v = Verifier::New(policy, options);
  ASSERT_TRUE(v.ok()) << v.status();
  const SoftwareAk ak;
  const std::string init = InitWithCert(ak.Build(), der);
  EXPECT_EQ(SucceedingOnThreads([&] { return (*v)->NewChallenge(AsSpan(init)).ok(); }),
            kThreads * kCallsPerThread);
}

// Every CA certificate of the shared corpus (MANIFEST.md: roots and
// intermediates) loads as ekcert_allowed_cas from its PEM file as is.
std::vector<std::string> CorpusCaFiles() {
  std::vector<std::string> out;
  for (const auto& [file, cells] : testing::ManifestTable("| File |")) {
    if (cells.size() > 1 && cells[1] != "EK") out.push_back(file);
  }
  return out;
}

std::string PolicyWithCas(const std::vector<std::string>& files) {
  nlohmann::json cas = nlohmann::json::array();
  for (const std::string& file : files) cas.push_back(testing::EkCertFile(file));
  return nlohmann::json{{"allow", {{{"ek_certificate_serial", "04:c0:1d"}}}},
                        {"ekcert_allowed_cas", cas}}
      .dump();
}

class CorpusCa : public ::testing::TestWithParam<std::string> {};

TEST_P(CorpusCa, LoadsAsAnAllowedCa) {
  const absl::Status status = Verifier::New(PolicyWithCas({GetParam()})).status();
  EXPECT_TRUE(status.ok()) << status;
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusCa, ::testing::ValuesIn(CorpusCaFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.size() - 4);
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(CorpusCas, AllLoadTogether) {
  const std::vector<std::string> files = CorpusCaFiles();
  EXPECT_EQ(files.size(), 66u);  // MANIFEST.md: 84 PEM files, 18 of them EKs
  const absl::Status status = Verifier::New(PolicyWithCas(files)).status();
  EXPECT_TRUE(status.ok()) << status;
}

TEST(VerifierNew, RejectsBadPolicies) {
  EXPECT_INVALID_ARGUMENT(Verifier::New("{}"), "\"allow\" is missing");
  EXPECT_INVALID_ARGUMENT(Verifier::New("not json"), "not valid JSON");
}

}  // namespace
}  // namespace tpmjoin::verifier
