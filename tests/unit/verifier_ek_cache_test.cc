// The cache of verified EKs: hits skip parsing and chain verification, and
// every way an entry stops being trustworthy is honoured.
#include <gtest/gtest.h>

#include "src/verifier/verifier.h"
#include "tests/unit/verifier_test_util.h"

namespace tpmjoin::verifier {
namespace {

using namespace ::tpmjoin::verifier::testing;

constexpr time_t kDay = 24 * 3600;

struct Fixture {
  TestPki pki;
  SoftwareAk ak{"rsa2048"};

  std::string PolicyFor(const std::vector<EVP_PKEY*>& eks) const {
    nlohmann::json rules = nlohmann::json::array();
    for (EVP_PKEY* ek : eks) rules.push_back({{"ek_public_hash", PubHashOf(ek)}});
    return nlohmann::json{{"allow", rules}, {"ekcert_allowed_cas", {pki.issuer.Pem()}}}.dump();
  }
};

std::unique_ptr<Verifier> NewVerifier(const std::string& policy, VerifierOptions options) {
  auto v = Verifier::New(policy, std::move(options));
  EXPECT_TRUE(v.ok()) << v.status();
  return *std::move(v);
}

TEST(VerifiedEkCache, SecondChallengeForTheSameCertificateIsAHit) {
  Fixture f;
  const TestCert ek = f.pki.IssueEk(SharedKey("rsa2048"));
  auto v = NewVerifier(f.PolicyFor({ek.key.get()}), {});
  const std::string init = InitWithCert(f.ak.Build(), ek.Der());
  ASSERT_TRUE(v->NewChallenge(AsSpan(init)).ok());
  auto second = v->NewChallenge(AsSpan(init));
  ASSERT_TRUE(second.ok()) << second.status();
  const auto stats = v->ek_cache_stats();
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.size, 1u);
  // The cached EK yields the same result as a fresh one.
  EXPECT_EQ(second->challenge->result().ek_pub_hash, PubHashOf(ek.key.get()));
  EXPECT_TRUE(second->challenge->result().ek_cert_verified);
}

TEST(VerifiedEkCache, AkChecksStillRunOnAHit) {
  Fixture f;
  const TestCert ek = f.pki.IssueEk(SharedKey("rsa2048"));
  auto v = NewVerifier(f.PolicyFor({ek.key.get()}), {});
  ASSERT_TRUE(v->NewChallenge(AsSpan(InitWithCert(f.ak.Build(), ek.Der()))).ok());
  SoftwareAk unrestricted("rsa2048");
  unrestricted.pub.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
  EXPECT_DENIED(v->NewChallenge(AsSpan(InitWithCert(unrestricted.Build(), ek.Der()))),
                "restricted");
  EXPECT_EQ(v->ek_cache_stats().hits, 1u);
}

TEST(VerifiedEkCache, EntriesExpireAfterTheirMaxAge) {
  Fixture f;
  const TestCert ek = f.pki.IssueEk(SharedKey("rsa2048"));
  time_t now = time(nullptr);
  VerifierOptions options;
  options.clock = [&now] { return now; };
  options.ek_cache_max_age = 600;
  auto v = NewVerifier(f.PolicyFor({ek.key.get()}), options);
  const std::string init = InitWithCert(f.ak.Build(), ek.Der());
  ASSERT_TRUE(v->NewChallenge(AsSpan(init)).ok());
  now += 599;
  ASSERT_TRUE(v->NewChallenge(AsSpan(init)).ok());
  EXPECT_EQ(v->ek_cache_stats().hits, 1u);
  now += 2;  // 601 s after it was verified
  ASSERT_TRUE(v->NewChallenge(AsSpan(init)).ok());
  const auto stats = v->ek_cache_stats();
  EXPECT_EQ(stats.expired, 1u);
  EXPECT_EQ(stats.misses, 2u);
}

TEST(VerifiedEkCache, EntriesEndWithTheFirstCertificateOfThePathToExpire) {
  Fixture f;
  CertSpec short_lived = EkSpec();
  short_lived.not_after = time(nullptr) + kDay;
  const TestCert ek = f.pki.IssueEk(SharedKey("rsa2048"), short_lived);
  time_t now = time(nullptr);
  VerifierOptions options;
  options.clock = [&now] { return now; };
  options.ek_cache_max_age = 30 * kDay;
  auto v = NewVerifier(f.PolicyFor({ek.key.get()}), options);
  const std::string init = InitWithCert(f.ak.Build(), ek.Der());
  ASSERT_TRUE(v->NewChallenge(AsSpan(init)).ok());
  now += kDay + 1;  // the EK certificate has expired: no cached verdict survives it
  EXPECT_DENIED(v->NewChallenge(AsSpan(init)), "expired");
  const auto stats = v->ek_cache_stats();
  EXPECT_EQ(stats.expired, 1u);
  EXPECT_EQ(stats.hits, 0u);
  EXPECT_EQ(stats.size, 0u);
}

TEST(VerifiedEkCache, IsBoundedAndEvictsTheLeastRecentlyUsed) {
  Fixture f;
  std::vector<TestCert> eks;
  for (long serial = 1; serial <= 3; ++serial) {
    eks.push_back(f.pki.IssueEk(SharedKey("rsa2048"), EkSpec(serial)));
  }
  VerifierOptions options;
  options.ek_cache_capacity = 2;
  auto v = NewVerifier(f.PolicyFor({eks[0].key.get()}), options);
  const AkParams ak = f.ak.Build();
  for (const auto& ek : eks) ASSERT_TRUE(v->NewChallenge(AsSpan(InitWithCert(ak, ek.Der()))).ok());
  auto stats = v->ek_cache_stats();
  EXPECT_EQ(stats.size, 2u);
  EXPECT_EQ(stats.evicted, 1u);
  ASSERT_TRUE(v->NewChallenge(AsSpan(InitWithCert(ak, eks[0].Der()))).ok());  // evicted: miss
  ASSERT_TRUE(v->NewChallenge(AsSpan(InitWithCert(ak, eks[2].Der()))).ok());  // kept: hit
  stats = v->ek_cache_stats();
  EXPECT_EQ(stats.misses, 4u);
  EXPECT_EQ(stats.hits, 1u);
}

TEST(VerifiedEkCache, DenialsAreNeverCached) {
  Fixture f;
  const TestPki other;
  const TestCert foreign = other.IssueEk(SharedKey("rsa2048"));
  auto v = NewVerifier(f.PolicyFor({foreign.key.get()}), {});
  const std::string init = InitWithCert(f.ak.Build(), foreign.Der());
  EXPECT_DENIED(v->NewChallenge(AsSpan(init)), "does not chain");
  EXPECT_DENIED(v->NewChallenge(AsSpan(init)), "does not chain");
  const auto stats = v->ek_cache_stats();
  EXPECT_EQ(stats.size, 0u);
  EXPECT_EQ(stats.hits, 0u);
}

TEST(VerifiedEkCache, RequestsDeniedByTheRulesAreNotCached) {
  // Without CAs anyone can send any EK; the ones no rule allows must not
  // fill the cache and evict the allowed ones.
  Fixture f;
  EVP_PKEY* allowed = CachedKey("ecc-p256");
  const std::string policy =
      nlohmann::json{{"allow", {{{"ek_public_hash", PubHashOf(allowed)}}}}}.dump();
  VerifierOptions options;
  options.ek_cache_capacity = 2;
  auto v = NewVerifier(policy, options);
  const AkParams ak = f.ak.Build();
  const std::string allowed_init = InitWithKey(ak, allowed);
  ASSERT_TRUE(v->NewChallenge(AsSpan(allowed_init)).ok());
  for (int i = 0; i < 5; ++i) {
    EvpPkeyPtr stranger = GenerateKey("ecc-p256");
    EXPECT_DENIED(v->NewChallenge(AsSpan(InitWithKey(ak, stranger.get()))),
                  "no allow rule matches");
  }
  auto stats = v->ek_cache_stats();
  EXPECT_EQ(stats.size, 1u);
  EXPECT_EQ(stats.evicted, 0u);
  ASSERT_TRUE(v->NewChallenge(AsSpan(allowed_init)).ok());
  EXPECT_EQ(v->ek_cache_stats().hits, 1u);
}

TEST(VerifiedEkCache, RequestsWithABadAkAreNotCached) {
  Fixture f;
  const TestCert ek = f.pki.IssueEk(SharedKey("rsa2048"));
  auto v = NewVerifier(f.PolicyFor({ek.key.get()}), {});
  SoftwareAk unrestricted("rsa2048");
  unrestricted.pub.objectAttributes &= ~TPMA_OBJECT_RESTRICTED;
  EXPECT_DENIED(v->NewChallenge(AsSpan(InitWithCert(unrestricted.Build(), ek.Der()))),
                "restricted");
  AkParams garbage = f.ak.Build();
  garbage.create_attestation.push_back('\0');
  EXPECT_BAD_MESSAGE(v->NewChallenge(AsSpan(InitWithCert(garbage, ek.Der()))),
                     "attestation_params.create_attestation");
  EXPECT_EQ(v->ek_cache_stats().size, 0u);
  ASSERT_TRUE(v->NewChallenge(AsSpan(InitWithCert(f.ak.Build(), ek.Der()))).ok());
  EXPECT_EQ(v->ek_cache_stats().size, 1u);
}

TEST(VerifiedEkCache, UnsupportedEkKeysAreNotCached) {
  Fixture f;
  const std::string policy =
      nlohmann::json{{"allow", {{{"ek_public_hash", std::string(64, 'a')}}}}}.dump();
  auto v = NewVerifier(policy, {});
  EvpPkeyPtr ed25519 = GenerateKey("ed25519");
  const std::string init = InitWithKey(f.ak.Build(), ed25519.get());
  EXPECT_DENIED(v->NewChallenge(AsSpan(init)), "unsupported EK key");
  EXPECT_DENIED(v->NewChallenge(AsSpan(init)), "unsupported EK key");
  EXPECT_EQ(v->ek_cache_stats().size, 0u);
  EXPECT_EQ(v->ek_cache_stats().hits, 0u);
}

TEST(VerifiedEkCache, CertificateAndKeyOfTheSameEkAreDifferentEntries) {
  Fixture f;
  const TestCert ek = f.pki.IssueEk(SharedKey("rsa2048"));
  const std::string policy = nlohmann::json{
      {"allow", {{{"ek_public_hash", PubHashOf(ek.key.get())}}}}}.dump();
  auto v = NewVerifier(policy, {});
  const AkParams ak = f.ak.Build();
  ASSERT_TRUE(v->NewChallenge(AsSpan(InitWithCert(ak, ek.Der()))).ok());
  auto by_key = v->NewChallenge(AsSpan(InitWithKey(ak, ek.key.get())));
  ASSERT_TRUE(by_key.ok()) << by_key.status();
  EXPECT_EQ(by_key->challenge->result().ek_cert_serial, "");
  EXPECT_EQ(v->ek_cache_stats().size, 2u);
}

TEST(VerifiedEkCache, CapacityZeroTurnsItOff) {
  Fixture f;
  const TestCert ek = f.pki.IssueEk(SharedKey("rsa2048"));
  VerifierOptions options;
  options.ek_cache_capacity = 0;
  auto v = NewVerifier(f.PolicyFor({ek.key.get()}), options);
  const std::string init = InitWithCert(f.ak.Build(), ek.Der());
  ASSERT_TRUE(v->NewChallenge(AsSpan(init)).ok());
  ASSERT_TRUE(v->NewChallenge(AsSpan(init)).ok());
  EXPECT_EQ(v->ek_cache_stats().hits, 0u);
  EXPECT_EQ(v->ek_cache_stats().size, 0u);
}

}  // namespace
}  // namespace tpmjoin::verifier
