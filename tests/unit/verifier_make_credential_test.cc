// MakeCredential: known answers from tpm2-pytss and tpm2_makecredential
// (tests/testdata/verifier/gen_vectors.py), and round trips through the
// TPM's ActivateCredential math for every EK profile.
#include <gtest/gtest.h>

#include "src/verifier/ek_profile.h"
#include "src/verifier/make_credential.h"
#include "src/verifier/tpm_signature.h"
#include "tests/unit/verifier_test_util.h"

namespace tpmjoin::verifier {
namespace {

using testing::ActivateCredentialInSoftware;
using testing::Hex;
using testing::OpenCredential;
using testing::PrivateKeyFromPem;
using testing::RecoverSeed;
using testing::SharedKey;
using testing::Tpm2bContent;

class MakeCredentialVector : public ::testing::TestWithParam<size_t> {
 protected:
  static const nlohmann::json& Cases() {
    static const nlohmann::json* cases =
        new nlohmann::json(testing::VerifierTestdataJson("make_credential.json"));
    return *cases;
  }
  const nlohmann::json& Case() const { return Cases().at(GetParam()); }
};

TEST_P(MakeCredentialVector, ProfileMatchesTheTemplateUsed) {
  EvpPkeyPtr ek = PrivateKeyFromPem(Case()["ek_private_pem"]);
  absl::StatusOr<EkProfile> profile = EkProfileForKey(ek.get());
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->key_type, Case()["key_type"].get<std::string>());
  EXPECT_EQ(HashName(profile->name_alg), Case()["name_alg"].get<std::string>());
  EXPECT_EQ(profile->aes_key_bits, Case()["aes_bits"].get<size_t>());
}

TEST_P(MakeCredentialVector, SeedRecoveredWithTheEkReproducesTheBlob) {
  // Independent of how the other implementation chose its seed: recover it
  // as the TPM would, then our symmetric part must give the same blob.
  EvpPkeyPtr ek = PrivateKeyFromPem(Case()["ek_private_pem"]);
  const EkProfile profile = EkProfileForKey(ek.get()).value();
  const Bytes secret = Hex(Case()["secret"]);
  const SecureBytes seed =
      RecoverSeed(ek.get(), profile, Tpm2bContent(secret).value()).value();
  absl::StatusOr<Bytes> blob =
      ProtectCredential(profile, seed, Hex(Case()["ak_name"]), Hex(Case()["credential"]));
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(HexEncode(*blob), Case()["credential_blob"].get<std::string>());
  EXPECT_EQ(HexEncode(OpenCredential(profile, seed, Hex(Case()["ak_name"]), *blob).value()),
            Case()["credential"].get<std::string>());
}

// tpm2-pytss cases pin the seed (RSA) or the ephemeral key (ECC).
TEST(MakeCredentialVectors, PinnedRandomnessReproducesTpm2PytssExactly) {
  const nlohmann::json cases = testing::VerifierTestdataJson("make_credential.json");
  int checked = 0;
  for (const nlohmann::json& c : cases) {
    if (c["tool"] != "tpm2-pytss") continue;
    SCOPED_TRACE(c["key_type"].get<std::string>());
    ++checked;
    EvpPkeyPtr ek = PrivateKeyFromPem(c["ek_private_pem"]);
    const EkProfile profile = EkProfileForKey(ek.get()).value();
    const Bytes name = Hex(c["ak_name"]);
    const Bytes credential = Hex(c["credential"]);
    absl::StatusOr<EncryptedCredential> out;
    if (c.contains("seed")) {
      const Bytes seed = Hex(c["seed"]);
      out = MakeCredentialWithRsaSeed(ek.get(), profile, name, credential, seed);
      ASSERT_TRUE(out.ok()) << out.status();
      // OAEP is randomized: the secret differs, but must carry the same seed.
      const SecureBytes recovered =
          RecoverSeed(ek.get(), profile, Tpm2bContent(out->secret).value()).value();
      EXPECT_EQ(HexEncode(recovered), HexEncode(seed));
    } else {
      EvpPkeyPtr ephemeral = PrivateKeyFromPem(c["ephemeral_private_pem"]);
      out = MakeCredentialWithEphemeralKey(ek.get(), profile, name, credential, ephemeral.get());
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ(HexEncode(out->secret), c["secret"].get<std::string>());
    }
    EXPECT_EQ(HexEncode(out->credential_blob), c["credential_blob"].get<std::string>());
  }
  EXPECT_EQ(checked, 2);
}

INSTANTIATE_TEST_SUITE_P(Vectors, MakeCredentialVector, ::testing::Range<size_t>(0, 8));

class MakeCredentialRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(MakeCredentialRoundTrip, ActivateCredentialMathRecoversTheSecret) {
  EvpPkeyPtr ek = SharedKey(GetParam());
  const EkProfile profile = EkProfileForKey(ek.get()).value();
  const Bytes name = testing::SoftwareAk().Name();
  const Bytes credential(32, 0x5a);
  absl::StatusOr<EncryptedCredential> out = MakeCredential(ek.get(), profile, name, credential);
  ASSERT_TRUE(out.ok()) << out.status();
  absl::StatusOr<SecureBytes> opened =
      ActivateCredentialInSoftware(ek.get(), name, out->credential_blob, out->secret);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(HexEncode(*opened), HexEncode(credential));
  // Bound to the AK's name: another name fails the integrity check.
  Bytes other_name = name;
  other_name.back() ^= 1;
  EXPECT_FALSE(
      ActivateCredentialInSoftware(ek.get(), other_name, out->credential_blob, out->secret)
          .ok());
}

TEST_P(MakeCredentialRoundTrip, EachCallUsesAFreshSeed) {
  EvpPkeyPtr ek = SharedKey(GetParam());
  const EkProfile profile = EkProfileForKey(ek.get()).value();
  const Bytes name(34, 1), credential(32, 2);
  const EncryptedCredential a = MakeCredential(ek.get(), profile, name, credential).value();
  const EncryptedCredential b = MakeCredential(ek.get(), profile, name, credential).value();
  EXPECT_NE(a.secret, b.secret);
  EXPECT_NE(a.credential_blob, b.credential_blob);
}

INSTANTIATE_TEST_SUITE_P(EkProfiles, MakeCredentialRoundTrip,
                         ::testing::Values("rsa2048", "rsa3072", "rsa4096", "ecc-p256",
                                           "ecc-p384", "ecc-p521"));

TEST(EkProfile, FollowsTheTcgEkCredentialProfile) {
  struct Want {
    const char* key_type;
    TPM2_ALG_ID name_alg;
    size_t aes_bits;
  };
  for (const Want& want : {Want{"rsa2048", TPM2_ALG_SHA256, 128},
                           Want{"rsa3072", TPM2_ALG_SHA384, 256},
                           Want{"rsa4096", TPM2_ALG_SHA384, 256},
                           Want{"ecc-p256", TPM2_ALG_SHA256, 128},
                           Want{"ecc-p384", TPM2_ALG_SHA384, 256},
                           Want{"ecc-p521", TPM2_ALG_SHA512, 256}}) {
    SCOPED_TRACE(want.key_type);
    const EkProfile profile = EkProfileForKey(testing::CachedKey(want.key_type)).value();
    EXPECT_EQ(profile.name_alg, want.name_alg);
    EXPECT_EQ(profile.aes_key_bits, want.aes_bits);
  }
}

TEST(EkProfile, OtherKeysAreDenied) {
  EXPECT_DENIED(EkProfileForKey(testing::CachedKey("rsa1024")), "unsupported EK key rsa1024");
  EXPECT_DENIED(EkProfileForKey(testing::CachedKey("ecc-p224")), "unsupported EK key");
}

TEST(MakeCredential, RejectsACredentialLargerThanTheDigest) {
  EvpPkeyPtr ek = SharedKey("rsa2048");
  const EkProfile profile = EkProfileForKey(ek.get()).value();
  EXPECT_FALSE(MakeCredential(ek.get(), profile, Bytes(34, 1), Bytes(33, 2)).ok());
}

TEST(MakeCredential, RejectsAnEphemeralKeyOnAnotherCurve) {
  EvpPkeyPtr ek = SharedKey("ecc-p256");
  const EkProfile profile = EkProfileForKey(ek.get()).value();
  EXPECT_FALSE(MakeCredentialWithEphemeralKey(ek.get(), profile, Bytes(34, 1), Bytes(32, 2),
                                              testing::CachedKey("ecc-p384"))
                   .ok());
}

}  // namespace
}  // namespace tpmjoin::verifier
