// The AK checks (REFERENCE.md section 3): one test per rejection reason,
// on attestations built in software by SoftwareAk.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "src/verifier/ak_validation.h"
#include "tests/unit/verifier_test_util.h"

namespace tpmjoin::verifier {
namespace {

using testing::AkHooks;
using testing::AkParams;
using testing::SoftwareAk;

absl::StatusOr<AkIdentity> Judge(const AkParams& params) {
  v1::TPMAttestationParameters proto;
  params.CopyTo(&proto);
  TPMJOIN_ASSIGN_OR_RETURN(const AkAttestation ak, ParseAkAttestation(proto));
  return CheckAkAttestation(ak);
}

// --- Accepted AKs -------------------------------------------------------------

struct GoodAk {
  const char* key_type;
  TPM2_ALG_ID hash;
  const char* algorithm;
};

class AcceptedAk : public ::testing::TestWithParam<GoodAk> {};

TEST_P(AcceptedAk, PassesAndIsNamed) {
  const SoftwareAk ak(GetParam().key_type, GetParam().hash);
  absl::StatusOr<AkIdentity> identity = Judge(ak.Build());
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->name, ak.Name());
  EXPECT_EQ(identity->algorithm, GetParam().algorithm);
}

INSTANTIATE_TEST_SUITE_P(
    Algorithms, AcceptedAk,
    ::testing::Values(GoodAk{"rsa2048", TPM2_ALG_SHA256, "rsa2048-rsassa-sha256"},
                      GoodAk{"rsa2048", TPM2_ALG_SHA384, "rsa2048-rsassa-sha384"},
                      GoodAk{"rsa3072", TPM2_ALG_SHA512, "rsa3072-rsassa-sha512"},
                      GoodAk{"ecc-p256", TPM2_ALG_SHA256, "ecc-p256-ecdsa-sha256"},
                      GoodAk{"ecc-p384", TPM2_ALG_SHA384, "ecc-p384-ecdsa-sha384"}),
    [](const ::testing::TestParamInfo<GoodAk>& info) {
      std::string name = info.param.algorithm;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(AkChecks, ExplicitExponent65537IsAccepted) {
  SoftwareAk ak;
  ak.pub.parameters.rsaDetail.exponent = 65537;
  EXPECT_TRUE(Judge(ak.Build()).ok());
}

TEST(AkChecks, NameAlgSha384IsAccepted) {
  SoftwareAk ak("ecc-p256");
  ak.pub.nameAlg = TPM2_ALG_SHA384;
  absl::StatusOr<AkIdentity> identity = Judge(ak.Build());
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->name.size(), 2u + 48u);
}

// --- Structure (BAD_MESSAGE) ----------------------------------------------------

TEST(AkStructure, EmptyFieldsAreBadMessages) {
  EXPECT_BAD_MESSAGE(Judge(AkParams{}), "attestation_params.public: empty, want a TPMT_PUBLIC");
  AkParams params = SoftwareAk().Build();
  params.create_data.clear();
  EXPECT_BAD_MESSAGE(Judge(params), "attestation_params.create_data: empty");
}

TEST(AkStructure, GarbageIsABadMessage) {
  AkParams params = SoftwareAk().Build();
  params.public_area = "\xff\xff\xff\xff garbage";
  EXPECT_BAD_MESSAGE(Judge(params), "not a valid TPMT_PUBLIC");
}

TEST(AkStructure, EachTruncatedStructureIsABadMessage) {
  const AkParams good = SoftwareAk().Build();
  for (std::string AkParams::*field : {&AkParams::public_area, &AkParams::create_data,
                                       &AkParams::create_attestation,
                                       &AkParams::create_signature}) {
    AkParams params = good;
    (params.*field).pop_back();
    EXPECT_BAD_MESSAGE(Judge(params), "not a valid");
  }
}

TEST(AkStructure, TrailingBytesAfterEachStructureAreABadMessage) {
  const AkParams good = SoftwareAk().Build();
  for (std::string AkParams::*field : {&AkParams::public_area, &AkParams::create_data,
                                       &AkParams::create_attestation,
                                       &AkParams::create_signature}) {
    AkParams params = good;
    (params.*field).push_back('\0');
    EXPECT_BAD_MESSAGE(Judge(params), "1 trailing bytes");
  }
}

TEST(AkStructure, OversizedSizeFieldsAreBadMessages) {
  // TPMT_PUBLIC: RSA modulus size 0x0201 (> 512).
  AkParams params = SoftwareAk().Build();
  std::string& pub = params.public_area;
  // type, nameAlg, attributes, authPolicy(2+0), symmetric(2), scheme(2+2),
  // keyBits(2), exponent(4), then unique.rsa.size.
  const size_t modulus_size_offset = 2 + 2 + 4 + 2 + 2 + 4 + 2 + 4;
  ASSERT_EQ(static_cast<uint8_t>(pub[modulus_size_offset]), 0x01);
  pub[modulus_size_offset] = 0x02;
  pub[modulus_size_offset + 1] = 0x01;
  EXPECT_BAD_MESSAGE(Judge(params), "TPMT_PUBLIC");
  // TPMT_SIGNATURE: RSASSA signature size 0x0201.
  params = SoftwareAk().Build();
  params.create_signature[4] = 0x02;
  params.create_signature[5] = 0x01;
  EXPECT_BAD_MESSAGE(Judge(params), "TPMT_SIGNATURE");
}

TEST(AkStructure, UnknownAttestationTypeIsABadMessage) {
  AkParams params = SoftwareAk().Build();
  params.create_attestation[4] = 0x12;  // type 0x121a: no such TPM_ST
  EXPECT_BAD_MESSAGE(Judge(params), "TPMS_ATTEST");
}

// --- TPMS_ATTEST --------------------------------------------------------------

TEST(AkChecks, WrongMagicIsDenied) {
  EXPECT_DENIED(Judge(SoftwareAk().Build({[](TPMS_ATTEST& a) { a.magic = 0xff544348; }})),
                "magic is 0xff544348, not TPM_GENERATED_VALUE");
}

TEST(AkChecks, WrongAttestationTypeIsDenied) {
  // A quote, well-formed and signed by the AK, is not a creation certificate.
  EXPECT_DENIED(Judge(SoftwareAk().Build({[](TPMS_ATTEST& a) {
                  a.type = TPM2_ST_ATTEST_QUOTE;
                  a.attested.quote = {};
                }})),
                "type is 0x8018, not TPM_ST_ATTEST_CREATION");
}

TEST(AkChecks, CreationHashOfOtherDataIsDenied) {
  EXPECT_DENIED(Judge(SoftwareAk().Build(
                    {[](TPMS_ATTEST& a) { a.attested.creation.creationHash.buffer[0] ^= 1; }})),
                "creationHash is not the hash of create_data");
}

TEST(AkChecks, SwappedCreationDataIsDenied) {
  AkParams params = SoftwareAk().Build();
  SoftwareAk other;
  other.creation.locality = TPMA_LOCALITY_TPM2_LOC_THREE;
  params.create_data = other.Build().create_data;
  EXPECT_DENIED(Judge(params), "creationHash is not the hash of create_data");
}

TEST(AkChecks, CertifiedNameOfAnotherObjectIsDenied) {
  EXPECT_DENIED(Judge(SoftwareAk().Build(
                    {[](TPMS_ATTEST& a) { a.attested.creation.objectName.name[5] ^= 1; }})),
                "certified object's name is not the name of `public`");
}

TEST(AkChecks, SwappedPublicIsDenied) {
  // The attestation of one AK with the public area of another.
  AkParams params = SoftwareAk("ecc-p256").Build();
  params.public_area = SoftwareAk("ecc-p384", TPM2_ALG_SHA384).Build().public_area;
  EXPECT_DENIED(Judge(params), "certified object's name is not the name of `public`");
}

// --- Attributes -----------------------------------------------------------------

struct MissingAttribute {
  TPMA_OBJECT mask;
  const char* name;
};

class AkAttributeTest : public ::testing::TestWithParam<MissingAttribute> {};

TEST_P(AkAttributeTest, MissingAttributeIsDenied) {
  SoftwareAk ak;
  ak.pub.objectAttributes &= ~GetParam().mask;
  EXPECT_DENIED(Judge(ak.Build()), absl::StrCat("AK attribute ", GetParam().name, " is not set"));
}

INSTANTIATE_TEST_SUITE_P(
    Required, AkAttributeTest,
    ::testing::Values(MissingAttribute{TPMA_OBJECT_FIXEDTPM, "fixedTPM"},
                      MissingAttribute{TPMA_OBJECT_FIXEDPARENT, "fixedParent"},
                      MissingAttribute{TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin"},
                      MissingAttribute{TPMA_OBJECT_RESTRICTED, "restricted"},
                      MissingAttribute{TPMA_OBJECT_SIGN_ENCRYPT, "sign"}),
    [](const ::testing::TestParamInfo<MissingAttribute>& info) {
      return std::string(info.param.name);
    });

TEST(AkChecks, DecryptAttributeIsDenied) {
  SoftwareAk ak;
  ak.pub.objectAttributes |= TPMA_OBJECT_DECRYPT;
  EXPECT_DENIED(Judge(ak.Build()), "AK attribute decrypt is set");
}

// --- nameAlg and key parameters ---------------------------------------------------

TEST(AkChecks, NameAlgSha1IsDenied) {
  SoftwareAk ak;
  ak.pub.nameAlg = TPM2_ALG_SHA1;
  EXPECT_DENIED(Judge(ak.Build()), "AK nameAlg sha1 is not SHA-256");
}

TEST(AkChecks, KeyedHashObjectIsDenied) {
  SoftwareAk ak;
  ak.pub.type = TPM2_ALG_KEYEDHASH;
  ak.pub.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
  ak.pub.unique.keyedHash.size = 32;
  EXPECT_DENIED(Judge(ak.Build()), "AK type is 0x8, not RSA or ECC");
}

TEST(AkChecks, RsaShorterThan2048BitsIsDenied) {
  EXPECT_DENIED(Judge(SoftwareAk("rsa1024").Build()), "AK RSA key has 1024 bits, want at least 2048");
}

TEST(AkChecks, RsaModulusSizeNotMatchingKeyBitsIsDenied) {
  SoftwareAk ak;
  ak.pub.parameters.rsaDetail.keyBits = 3072;
  EXPECT_DENIED(Judge(ak.Build()), "AK RSA modulus is 256 bytes, but keyBits says 3072");
}

TEST(AkChecks, RsaKeyBitsNotAMultipleOf8IsDenied) {
  SoftwareAk ak;
  ak.pub.parameters.rsaDetail.keyBits = 2047;
  EXPECT_DENIED(Judge(ak.Build()), "AK RSA key has 2047 bits, want at least 2048");
}

// A 1024-bit key dressed as a 2048-bit one: its modulus moved to the end of
// a 256-byte buffer behind zero bytes, keyBits 2048. Signed by that key, it
// would pass every size check and the signature check.
TEST(AkChecks, RsaModulusPaddedWithLeadingZerosIsDenied) {
  SoftwareAk ak("rsa1024");
  TPM2B_PUBLIC_KEY_RSA& n = ak.pub.unique.rsa;
  ASSERT_EQ(n.size, 128);
  std::copy_backward(n.buffer, n.buffer + 128, n.buffer + 256);
  std::fill(n.buffer, n.buffer + 128, 0);
  n.size = 256;
  ak.pub.parameters.rsaDetail.keyBits = 2048;
  EXPECT_DENIED(Judge(ak.Build()),
                "AK RSA modulus starts with a zero bit: it has fewer than 2048 bits");
  // One zero bit is enough: the top bit of a TPM's modulus is always set.
  SoftwareAk top_bit_clear;
  top_bit_clear.pub.unique.rsa.buffer[0] &= 0x7f;
  EXPECT_DENIED(Judge(top_bit_clear.Build()), "AK RSA modulus starts with a zero bit");
}

TEST(AkChecks, RsaExponentOtherThan65537IsDenied) {
  SoftwareAk ak;
  ak.pub.parameters.rsaDetail.exponent = 3;
  EXPECT_DENIED(Judge(ak.Build()), "AK RSA exponent is 3, want 65537");
}

TEST(AkChecks, RsaSchemeOtherThanRsassaIsDenied) {
  for (TPM2_ALG_ID scheme : {TPM2_ALG_RSAPSS, TPM2_ALG_NULL, TPM2_ALG_OAEP}) {
    SoftwareAk ak;
    ak.pub.parameters.rsaDetail.scheme.scheme = scheme;
    EXPECT_DENIED(Judge(ak.Build()), "not RSASSA");
  }
}

TEST(AkChecks, RsaWithSymmetricAlgorithmIsDenied) {
  SoftwareAk ak;
  ak.pub.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
  ak.pub.parameters.rsaDetail.symmetric.keyBits.aes = 128;
  ak.pub.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  EXPECT_DENIED(Judge(ak.Build()), "AK has a symmetric algorithm");
}

TEST(AkChecks, SchemeHashSha1IsDenied) {
  EXPECT_DENIED(Judge(SoftwareAk("rsa2048", TPM2_ALG_SHA1).Build()),
                "AK signing scheme hash sha1 is not SHA-256");
  EXPECT_DENIED(Judge(SoftwareAk("ecc-p256", TPM2_ALG_SHA1).Build()),
                "AK signing scheme hash sha1 is not SHA-256");
}

TEST(AkChecks, EccCurveOtherThanP256OrP384IsDenied) {
  EXPECT_DENIED(Judge(SoftwareAk("ecc-p521", TPM2_ALG_SHA512).Build()),
                "AK ECC curve is 0x5, not NIST P-256 or P-384");
  SoftwareAk bn_curve("ecc-p256");
  bn_curve.pub.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
  EXPECT_DENIED(Judge(bn_curve.Build()), "AK ECC curve is 0x10");
}

TEST(AkChecks, EccSchemeOtherThanEcdsaIsDenied) {
  for (TPM2_ALG_ID scheme : {TPM2_ALG_ECSCHNORR, TPM2_ALG_SM2, TPM2_ALG_NULL}) {
    SoftwareAk ak("ecc-p256");
    ak.pub.parameters.eccDetail.scheme.scheme = scheme;
    EXPECT_DENIED(Judge(ak.Build()), "not ECDSA");
  }
}

TEST(AkChecks, EccWithKdfIsDenied) {
  SoftwareAk ak("ecc-p256");
  ak.pub.parameters.eccDetail.kdf.scheme = TPM2_ALG_KDF1_SP800_56A;
  ak.pub.parameters.eccDetail.kdf.details.kdf1_sp800_56a.hashAlg = TPM2_ALG_SHA256;
  EXPECT_DENIED(Judge(ak.Build()), "AK has a KDF scheme");
}

TEST(AkChecks, EccWithSymmetricAlgorithmIsDenied) {
  SoftwareAk ak("ecc-p256");
  ak.pub.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  ak.pub.parameters.eccDetail.symmetric.keyBits.aes = 128;
  ak.pub.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  EXPECT_DENIED(Judge(ak.Build()), "AK has a symmetric algorithm");
}

TEST(AkChecks, EccPointOffTheCurveIsDenied) {
  SoftwareAk ak("ecc-p256");
  ak.pub.unique.ecc.y.buffer[31] ^= 1;
  EXPECT_DENIED(Judge(ak.Build()), "AK public key is unusable");
}

TEST(AkChecks, EccCoordinateOfWrongSizeIsDenied) {
  SoftwareAk longer_x("ecc-p256");
  longer_x.pub.unique.ecc.x.size = 33;  // one byte more than the P-256 field
  EXPECT_DENIED(Judge(longer_x.Build()), "AK public key is unusable");
  SoftwareAk empty_y("ecc-p256");
  empty_y.pub.unique.ecc.y.size = 0;
  EXPECT_DENIED(Judge(empty_y.Build()), "AK public key is unusable");
}

// --- Signature -----------------------------------------------------------------------

TEST(AkSignature, SignatureByAnotherKeyIsDenied) {
  EXPECT_DENIED(Judge(SoftwareAk().Build({{}, {}, testing::CachedKey("rsa3072")})),
                "RSASSA signature is 384 bytes, want 256");
  const SoftwareAk ecc("ecc-p256");
  EXPECT_DENIED(Judge(ecc.Build({{}, {}, testing::GenerateKey("ecc-p256").get()})),
                "signature over create_attestation does not verify");
}

TEST(AkSignature, TamperedAttestationIsDenied) {
  for (const char* key_type : {"rsa2048", "ecc-p256"}) {
    AkParams params = SoftwareAk(key_type).Build();
    // clockInfo.clock: after magic, type, qualifiedSigner (2+34), extraData (2).
    params.create_attestation[4 + 2 + 36 + 2 + 7] ^= 1;
    EXPECT_DENIED(Judge(params), "signature over create_attestation does not verify");
  }
}

TEST(AkSignature, TamperedSignatureIsDenied) {
  EXPECT_DENIED(Judge(SoftwareAk().Build(
                    {{}, [](TPMT_SIGNATURE& s) { s.signature.rsassa.sig.buffer[10] ^= 1; }})),
                "does not verify");
  EXPECT_DENIED(Judge(SoftwareAk("ecc-p256").Build(
                    {{}, [](TPMT_SIGNATURE& s) { s.signature.ecdsa.signatureS.buffer[3] ^= 1; }})),
                "does not verify");
}

TEST(AkSignature, ShortRsaSignatureIsDenied) {
  EXPECT_DENIED(Judge(SoftwareAk().Build({{}, [](TPMT_SIGNATURE& s) {
                  s.signature.rsassa.sig.size = 255;
                }})),
                "RSASSA signature is 255 bytes, want 256");
}

TEST(AkSignature, EmptySignaturesAreDenied) {
  EXPECT_DENIED(Judge(SoftwareAk().Build(
                    {{}, [](TPMT_SIGNATURE& s) { s.signature.rsassa.sig.size = 0; }})),
                "RSASSA signature is 0 bytes");
  EXPECT_DENIED(Judge(SoftwareAk("ecc-p256").Build(
                    {{}, [](TPMT_SIGNATURE& s) { s.signature.ecdsa.signatureR.size = 0; }})),
                "ECDSA r/s are 0/32 bytes");
}

TEST(AkSignature, OversizedEcdsaComponentIsDenied) {
  EXPECT_DENIED(Judge(SoftwareAk("ecc-p256").Build({{}, [](TPMT_SIGNATURE& s) {
                  s.signature.ecdsa.signatureS.size = 33;
                }})),
                "ECDSA r/s are 32/33 bytes, want 1 to 32");
}

TEST(AkSignature, AlgorithmOtherThanTheKeysSchemeIsDenied) {
  EXPECT_DENIED(Judge(SoftwareAk().Build(
                    {{}, [](TPMT_SIGNATURE& s) { s.sigAlg = TPM2_ALG_RSAPSS; }})),
                "AK signature algorithm 0x16 is not the AK's scheme 0x14");
  EXPECT_DENIED(Judge(SoftwareAk().Build({{}, [](TPMT_SIGNATURE& s) {
                  s = {};
                  s.sigAlg = TPM2_ALG_NULL;
                }})),
                "AK signature algorithm 0x10 is not the AK's scheme");
  EXPECT_DENIED(Judge(SoftwareAk("ecc-p256").Build({{}, [](TPMT_SIGNATURE& s) {
                  s.sigAlg = TPM2_ALG_ECSCHNORR;
                }})),
                "is not the AK's scheme 0x18");
}

TEST(AkSignature, HashOtherThanTheSchemeHashIsDenied) {
  EXPECT_DENIED(Judge(SoftwareAk().Build(
                    {{}, [](TPMT_SIGNATURE& s) { s.signature.rsassa.hash = TPM2_ALG_SHA384; }})),
                "AK signature hash sha384 is not the AK's scheme hash sha256");
  EXPECT_DENIED(Judge(SoftwareAk("ecc-p256").Build(
                    {{}, [](TPMT_SIGNATURE& s) { s.signature.ecdsa.hash = TPM2_ALG_SHA512; }})),
                "AK signature hash sha512 is not the AK's scheme hash sha256");
}

}  // namespace
}  // namespace tpmjoin::verifier
