// EK templates of the TCG EK Credential Profile and what the agent accepts
// from NV.
#include "src/agent/ek_profile.h"
#include "src/agent/ek_template.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/common/errors.h"
#include "src/common/tpm_mu.h"

namespace tpmjoin::agent {
namespace {

TEST(EkProfile, EveryEccProfileHasItsTemplate) {
  for (const EkProfile& profile : EccProfiles()) {
    const TPMT_PUBLIC pub = profile.make_template();
    EXPECT_EQ(pub.type, TPM2_ALG_ECC) << profile.name;
    EXPECT_EQ(pub.parameters.eccDetail.curveID, profile.curve) << profile.name;
    EXPECT_TRUE(LooksLikeEk(pub)) << profile.name;
    const bool high = profile.name[0] == 'H';
    EXPECT_EQ((pub.objectAttributes & TPMA_OBJECT_USERWITHAUTH) != 0, high) << profile.name;
    // Low range: zero-filled unique of the coordinate size; high: empty.
    EXPECT_EQ(pub.unique.ecc.x.size, high ? 0 : 32) << profile.name;
    EXPECT_EQ(ProfileNamed(profile.name), &profile);
  }
  const TPMT_PUBLIC h4 = ProfileNamed("H-4")->make_template();
  EXPECT_EQ(h4.nameAlg, TPM2_ALG_SHA512);
  EXPECT_EQ(h4.authPolicy.size, 64);
  EXPECT_EQ(h4.parameters.eccDetail.symmetric.keyBits.aes, 256);
  const TPMT_PUBLIC h2 = ProfileNamed("H-2")->make_template();
  EXPECT_EQ(h2.nameAlg, TPM2_ALG_SHA256);
  EXPECT_EQ(h2.authPolicy.buffer[0], 0xca);  // PolicyB, SHA-256
  EXPECT_EQ(ProfileNamed("L-1"), &RsaLowProfile());
  EXPECT_EQ(ProfileNamed("H-9"), nullptr);
}

TEST(EkProfile, CertificateCurvePicksTheProfile) {
  EXPECT_STREQ(EccProfileForCurve(TPM2_ECC_NIST_P256)->name, "L-2");
  EXPECT_STREQ(EccProfileForCurve(TPM2_ECC_NIST_P384)->name, "H-3");
  EXPECT_STREQ(EccProfileForCurve(TPM2_ECC_NIST_P521)->name, "H-4");
  EXPECT_EQ(EccProfileForCurve(TPM2_ECC_BN_P256), nullptr);
}

TEST(EkNonce, FillsTheUniqueFieldAsTheProfileDoes) {
  const std::vector<uint8_t> nonce = {1, 2, 3};
  TPMT_PUBLIC rsa = RsaLowProfile().make_template();
  rsa.unique.rsa.size = 0;  // as an NV template would have it
  ASSERT_TRUE(ApplyEkNonce(nonce, &rsa));
  EXPECT_EQ(rsa.unique.rsa.size, 256);
  EXPECT_EQ(std::vector<uint8_t>(rsa.unique.rsa.buffer, rsa.unique.rsa.buffer + 4),
            (std::vector<uint8_t>{1, 2, 3, 0}));
  EXPECT_EQ(rsa.unique.rsa.buffer[255], 0);

  TPMT_PUBLIC ecc = EccLowProfile().make_template();
  ecc.unique.ecc.x.size = ecc.unique.ecc.y.size = 0;
  ASSERT_TRUE(ApplyEkNonce(nonce, &ecc));
  EXPECT_EQ(ecc.unique.ecc.x.size, 32);
  EXPECT_EQ(ecc.unique.ecc.y.size, 32);
  EXPECT_EQ(ecc.unique.ecc.x.buffer[2], 3);
  EXPECT_EQ(ecc.unique.ecc.x.buffer[3], 0);

  EXPECT_FALSE(ApplyEkNonce(std::vector<uint8_t>(257), &rsa));
  EXPECT_FALSE(ApplyEkNonce(std::vector<uint8_t>(33), &ecc));
}

TEST(NvEkTemplate, DefaultsAndUserWithAuthAreAccepted) {
  for (const EkProfile* profile : {&RsaLowProfile(), &EccLowProfile()}) {
    TPMT_PUBLIC pub = profile->make_template();
    EXPECT_TRUE(CheckNvEkTemplate(*profile, pub).ok()) << profile->name;
    pub.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
    pub.authPolicy.size = 0;  // usable with the (empty) authValue
    EXPECT_TRUE(CheckNvEkTemplate(*profile, pub).ok()) << profile->name;
  }
}

TEST(NvEkTemplate, WhatAVerifierOrTheAgentCouldNotUseIsRefused) {
  const EkProfile& l1 = RsaLowProfile();
  const auto refused = [&](TPMT_PUBLIC pub, const std::string& why) {
    const absl::Status status = CheckNvEkTemplate(l1, pub);
    EXPECT_EQ(AbiCodeOf(status), AbiCode::kTpm) << why;
    EXPECT_NE(status.message().find("NV index 0x01c00004"), absl::string_view::npos) << status;
    EXPECT_NE(status.message().find(why), absl::string_view::npos) << status;
  };
  TPMT_PUBLIC pub = l1.make_template();
  pub.nameAlg = TPM2_ALG_SHA384;
  refused(pub, "nameAlg");
  pub = l1.make_template();
  pub.parameters.rsaDetail.keyBits = 3072;
  refused(pub, "RSA 2048");
  pub = l1.make_template();
  pub.parameters.rsaDetail.symmetric.keyBits.aes = 256;
  refused(pub, "AES-128-CFB");
  pub = l1.make_template();
  pub.objectAttributes &= ~TPMA_OBJECT_FIXEDTPM;
  refused(pub, "restricted decryption key");
  pub = l1.make_template();
  pub.authPolicy.buffer[0] ^= 1;
  refused(pub, "PolicySecret(TPM_RH_ENDORSEMENT)");
  refused(EccLowProfile().make_template(), "not an RSA key");
}

TEST(NvEkTemplate, PaddingAfterTheTemplateIsAllowedOtherBytesAreNot) {
  const EkProfile& l1 = RsaLowProfile();
  auto marshaled = Marshal(l1.make_template());
  ASSERT_TRUE(marshaled.ok());
  for (uint8_t pad : {0x00, 0xff}) {
    Bytes padded = *marshaled;
    padded.insert(padded.end(), 20, pad);
    auto parsed = ParseNvEkTemplate(padded, l1);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->unique.rsa.size, 256);
  }
  Bytes trailing = *marshaled;
  trailing.push_back(0x01);
  EXPECT_EQ(AbiCodeOf(ParseNvEkTemplate(trailing, l1).status()), AbiCode::kTpm);
  EXPECT_EQ(AbiCodeOf(ParseNvEkTemplate(Bytes(), l1).status()), AbiCode::kTpm);
  const Bytes truncated(marshaled->begin(), marshaled->begin() + 10);
  EXPECT_NE(ParseNvEkTemplate(truncated, l1).status().message().find("does not hold a TPMT_PUBLIC"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace tpmjoin::agent
