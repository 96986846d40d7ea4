// A real attestation recorded once from swtpm by
// tests/testdata/verifier/record_swtpm.sh (tpm2_createprimary +
// tpm2_certifycreation, the EK certificates swtpm_setup made with a private
// swtpm-localca CA): the verifier accepts it, and rejects every tampered
// variant.
#include <gtest/gtest.h>

#include "src/verifier/ak_validation.h"
#include "src/verifier/verifier.h"
#include "tests/unit/verifier_test_util.h"

namespace tpmjoin::verifier {
namespace {

using testing::AkParams;
using testing::VerifierTestdata;

AkParams RecordedAk(const std::string& name) {
  return AkParams{VerifierTestdata("swtpm/" + name + ".public"),
                  VerifierTestdata("swtpm/" + name + ".create_data"),
                  VerifierTestdata("swtpm/" + name + ".create_attestation"),
                  VerifierTestdata("swtpm/" + name + ".create_signature")};
}

absl::StatusOr<AkIdentity> Judge(const AkParams& params) {
  v1::TPMAttestationParameters proto;
  params.CopyTo(&proto);
  TPMJOIN_ASSIGN_OR_RETURN(const AkAttestation ak, ParseAkAttestation(proto));
  return CheckAkAttestation(ak);
}

std::string EkHash(const std::string& nvraw) {
  X509Ptr cert = testing::LoadCertificate(nvraw);
  return testing::PubHashOf(X509_get0_pubkey(cert.get()));
}

// Anchored at the issuing CA alone, or at the root with the issuing CA as
// an intermediate.
std::string Policy(const std::string& ek_hash, const std::string& ca_file) {
  std::string policy = absl::StrCat(
      R"({"allow":[{"description":"swtpm","ek_public_hash":")", ek_hash,
      R"("}],"ekcert_allowed_cas":[)",
      nlohmann::json(VerifierTestdata("swtpm/" + ca_file)).dump(), "]");
  if (ca_file == "ca-root.pem") {
    absl::StrAppend(&policy, R"(,"ekcert_intermediate_cas":[)",
                    nlohmann::json(VerifierTestdata("swtpm/ca-issuer.pem")).dump(), "]");
  }
  return policy + "}";
}

struct Recorded {
  const char* ek;
  const char* ak;
  const char* ca;
  const char* algorithm;
};

class RecordedJoin : public ::testing::TestWithParam<Recorded> {};

TEST_P(RecordedJoin, IsAccepted) {
  const std::string ek = VerifierTestdata(absl::StrCat("swtpm/", GetParam().ek, ".nvraw"));
  auto v = Verifier::New(Policy(EkHash(ek), GetParam().ca));
  ASSERT_TRUE(v.ok()) << v.status();
  absl::StatusOr<IssuedChallenge> issued =
      (*v)->NewChallenge(AsSpan(testing::InitWithCert(RecordedAk(GetParam().ak), ek)));
  ASSERT_TRUE(issued.ok()) << issued.status();
  const JoinResult& result = issued->challenge->result();
  EXPECT_TRUE(result.ek_cert_verified);
  EXPECT_EQ(result.ak_algorithm, GetParam().algorithm);
  EXPECT_EQ(result.tpm_manufacturer, "id:00001014");
  EXPECT_EQ(result.tpm_model, "swtpm");
}

INSTANTIATE_TEST_SUITE_P(
    Swtpm, RecordedJoin,
    ::testing::Values(Recorded{"ek-rsa", "ak-rsa", "ca-root.pem", "rsa2048-rsassa-sha256"},
                      Recorded{"ek-rsa", "ak-rsa", "ca-issuer.pem", "rsa2048-rsassa-sha256"},
                      Recorded{"ek-ecc", "ak-ecc", "ca-root.pem", "ecc-p256-ecdsa-sha256"},
                      Recorded{"ek-ecc", "ak-rsa", "ca-issuer.pem", "rsa2048-rsassa-sha256"}));

TEST(RecordedJoin, AnotherCaIsDenied) {
  const std::string ek = VerifierTestdata("swtpm/ek-rsa.nvraw");
  const std::string policy =
      absl::StrCat(R"({"allow":[{"ek_public_hash":")", EkHash(ek), R"("}],"ekcert_allowed_cas":[)",
                   nlohmann::json(testing::EkCertFile("nuvoton-root-ecc-2111.pem")).dump(), "]}");
  auto v = Verifier::New(policy);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_DENIED((*v)->NewChallenge(AsSpan(testing::InitWithCert(RecordedAk("ak-rsa"), ek))),
                "does not chain to any of ekcert_allowed_cas");
}

class TamperedRecording : public ::testing::TestWithParam<const char*> {};

TEST_P(TamperedRecording, EveryFlippedByteIsRejected) {
  const AkParams good = RecordedAk(GetParam());
  ASSERT_TRUE(Judge(good).ok());
  int denied = 0, bad_message = 0;
  for (std::string AkParams::*field : {&AkParams::public_area, &AkParams::create_data,
                                       &AkParams::create_attestation,
                                       &AkParams::create_signature}) {
    for (size_t i = 0; i < (good.*field).size(); ++i) {
      for (uint8_t flip : {0x01, 0x80}) {
        AkParams tampered = good;
        (tampered.*field)[i] = static_cast<char>((tampered.*field)[i] ^ flip);
        const absl::Status status = Judge(tampered).status();
        ASSERT_FALSE(status.ok()) << "byte " << i << " ^ " << int{flip} << " accepted";
        (AbiCodeOf(status) == AbiCode::kDenied ? denied : bad_message)++;
        ASSERT_TRUE(AbiCodeOf(status) == AbiCode::kDenied ||
                    AbiCodeOf(status) == AbiCode::kBadMessage)
            << status;
      }
    }
  }
  EXPECT_GT(denied, 0);
  EXPECT_GT(bad_message, 0);
}

TEST_P(TamperedRecording, TruncatedOrExtendedFieldsAreBadMessages) {
  const AkParams good = RecordedAk(GetParam());
  for (std::string AkParams::*field : {&AkParams::public_area, &AkParams::create_data,
                                       &AkParams::create_attestation,
                                       &AkParams::create_signature}) {
    AkParams shorter = good, longer = good;
    (shorter.*field).pop_back();
    (longer.*field).append("\x00\x00", 2);
    EXPECT_BAD_MESSAGE(Judge(shorter), "");
    EXPECT_BAD_MESSAGE(Judge(longer), "2 trailing bytes");
  }
}

TEST_P(TamperedRecording, FieldsSwappedBetweenAksAreDenied) {
  const std::string other = std::string(GetParam()) == "ak-rsa" ? "ak-ecc" : "ak-rsa";
  AkParams mixed = RecordedAk(GetParam());
  mixed.public_area = RecordedAk(other).public_area;
  EXPECT_DENIED(Judge(mixed), "certified object's name is not the name of `public`");
  mixed = RecordedAk(GetParam());
  mixed.create_signature = RecordedAk(other).create_signature;
  EXPECT_DENIED(Judge(mixed), "is not the AK's scheme");
}

INSTANTIATE_TEST_SUITE_P(Swtpm, TamperedRecording, ::testing::Values("ak-rsa", "ak-ecc"));

}  // namespace
}  // namespace tpmjoin::verifier
