// The EK of an init request: parsing, supported key types, and the
// certificate requirement when the policy lists CAs.
#include <gtest/gtest.h>

#include "src/verifier/ek_validation.h"
#include "tests/unit/verifier_test_util.h"

namespace tpmjoin::verifier {
namespace {

using testing::EkCertFile;
using testing::PkixOf;
using testing::PubHashOf;
using testing::SharedKey;
using testing::TestCert;
using testing::TestPki;

v1::RegisterUsingTPMMethodInitialRequest WithCert(const std::string& der) {
  v1::RegisterUsingTPMMethodInitialRequest init;
  init.set_ek_cert(der);
  return init;
}

v1::RegisterUsingTPMMethodInitialRequest WithKey(const std::string& der) {
  v1::RegisterUsingTPMMethodInitialRequest init;
  init.set_ek_key(der);
  return init;
}

std::string KeyDer(const std::string& key_type) {
  return std::string(AsStringView(PkixOf(testing::CachedKey(key_type))));
}

TEST(ParseEk, FromCertificate) {
  TestPki pki;
  const TestCert cert = pki.IssueEk(SharedKey("rsa2048"), testing::EkSpec(0x00cd8f));
  absl::StatusOr<Ek> ek = ParseEk(WithCert(cert.Der()));
  ASSERT_TRUE(ek.ok()) << ek.status();
  EXPECT_EQ(ek->pub.pub_hash, PubHashOf(testing::CachedKey("rsa2048")));
  EXPECT_EQ(ek->pub.key_type, "rsa2048");
  EXPECT_EQ(ek->serial_text, "cd:8f");
  EXPECT_EQ(ek->serial, (Bytes{0xcd, 0x8f}));
  EXPECT_EQ(ek->device.manufacturer, "id:54455354");
  EXPECT_EQ(ek->device.model, "SoftTPM");
  EXPECT_NE(ek->cert, nullptr);
  EXPECT_EQ(ek->profile.key_type, nullptr);  // a verdict, left to VerifyEk
  ASSERT_TRUE(VerifyEk(&*ek, nullptr, time(nullptr)).ok());
  EXPECT_EQ(ek->profile.name_alg, TPM2_ALG_SHA256);
  EXPECT_STREQ(ek->profile.key_type, "rsa2048");
}

TEST(ParseEk, FromRawNvContentsWithPadding) {
  // 1600-byte NV index: DER followed by 0xff padding.
  absl::StatusOr<Ek> ek = ParseEk(WithCert(EkCertFile("stm-ek-rsa2048-int05.nvraw.bin")));
  ASSERT_TRUE(ek.ok()) << ek.status();
  EXPECT_EQ(ek->serial_text, "4c:bd:0f:e6:1e:e7:62:ed:b2:8d:50:b2:68:fc:35:86:ff:3d:5e:82");
}

TEST(ParseEk, Tpm12CertificateWithOaepKeyIsAnRsaKey) {
  absl::StatusOr<Ek> ek = ParseEk(WithCert(
      std::string(AsStringView(ExtractCertificateDer(
                                   AsSpan(EkCertFile("nuvoton-ek-tpm12-rsa2048-root2010.pem")))
                                   .value()))));
  ASSERT_TRUE(ek.ok()) << ek.status();
  EXPECT_EQ(ek->pub.key_type, "rsa2048");
}

TEST(ParseEk, FromPublicKey) {
  for (const char* key_type : {"rsa2048", "rsa3072", "rsa4096", "ecc-p256", "ecc-p384",
                               "ecc-p521"}) {
    SCOPED_TRACE(key_type);
    absl::StatusOr<Ek> ek = ParseEk(WithKey(KeyDer(key_type)));
    ASSERT_TRUE(ek.ok()) << ek.status();
    EXPECT_EQ(ek->pub.key_type, key_type);
    EXPECT_EQ(ek->cert, nullptr);
    EXPECT_FALSE(ek->serial);
    EXPECT_EQ(ek->serial_text, "");
  }
}

TEST(ParseEk, CompressedEcPointHashesLikeTheUncompressedKey) {
  // Go's x509.MarshalPKIXPublicKey (Teleport, tbot) always writes the
  // uncompressed point; the hash must not depend on how the key came.
  EVP_PKEY* key = testing::CachedKey("ecc-p256");
  EvpPkeyPtr copy(EVP_PKEY_dup(key));
  ASSERT_EQ(EVP_PKEY_set_utf8_string_param(copy.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                           OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED),
            1);
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(copy.get(), &der);
  const std::string compressed(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  ASSERT_EQ(compressed.size(), 59u);  // 33-byte point
  absl::StatusOr<Ek> ek = ParseEk(WithKey(compressed));
  ASSERT_TRUE(ek.ok()) << ek.status();
  EXPECT_EQ(ek->pub.pub_hash, PubHashOf(key));
  EXPECT_EQ(ek->pub.pkix_der.size(), 91u);
}

TEST(ParseEk, NeitherCertNorKeyIsABadMessage) {
  EXPECT_BAD_MESSAGE(ParseEk(v1::RegisterUsingTPMMethodInitialRequest()),
                     "neither ek_cert nor ek_key");
}

TEST(ParseEk, GarbageCertificateIsABadMessage) {
  EXPECT_BAD_MESSAGE(ParseEk(WithCert("not a certificate")), "ek_cert:");
  EXPECT_BAD_MESSAGE(ParseEk(WithCert("")), "ek_cert:");
  std::string truncated = TestPki().IssueEk(SharedKey("rsa2048")).Der();
  truncated.resize(truncated.size() - 10);
  EXPECT_BAD_MESSAGE(ParseEk(WithCert(truncated)), "ek_cert:");
}

TEST(ParseEk, CertificateAsReadFromNvIsAccepted) {
  const std::string der = TestPki().IssueEk(SharedKey("rsa2048")).Der();
  const uint16_t full = static_cast<uint16_t>(der.size() + 2);
  const std::string header = {0x10, 0x01, 0x00, static_cast<char>(full >> 8),
                              static_cast<char>(full & 0xff), 0x10, 0x02};
  for (const std::string& nv : {der, der + std::string(300, '\xff'), der + std::string(7, '\0'),
                                header + der, header + der + std::string(16, '\xff')}) {
    auto ek = ParseEk(WithCert(nv));
    ASSERT_TRUE(ek.ok()) << ek.status();
    EXPECT_EQ(std::string(AsStringView(CertificateDer(ek->cert.get()).value())), der);
  }
}

TEST(ParseEk, CertificateMustBeDerWithPaddingOnly) {
  const TestCert ek = TestPki().IssueEk(SharedKey("rsa2048"));
  EXPECT_BAD_MESSAGE(ParseEk(WithCert(ek.Der() + "arbitrary trailing bytes")),
                     "ek_cert: 24 bytes after the DER certificate that are not padding");
  EXPECT_BAD_MESSAGE(ParseEk(WithCert(ek.Der() + std::string("\xff\xff\x00", 3))),
                     "not padding");
  // PEM is for files (tpmjoin_ek_info, ek_cert_file), not for the wire.
  EXPECT_BAD_MESSAGE(ParseEk(WithCert(ek.Pem())), "ek_cert: not a DER certificate");
  EXPECT_BAD_MESSAGE(ParseEk(WithCert("junk\n" + ek.Pem() + "junk")),
                     "ek_cert: not a DER certificate");
}

TEST(ParseEk, PublicKeyMustBeExactlyOneDerSpki) {
  EXPECT_BAD_MESSAGE(ParseEk(WithKey(KeyDer("rsa2048") + "x")), "ek_key: trailing bytes");
  EXPECT_BAD_MESSAGE(ParseEk(WithKey("garbage")), "ek_key: not a SubjectPublicKeyInfo");
  const std::string pem =
      tpmjoin::ToPem("PUBLIC KEY", PkixOf(testing::CachedKey("rsa2048")));
  EXPECT_BAD_MESSAGE(ParseEk(WithKey(pem)), "ek_key:");
}

TEST(ParseEk, KeysOutsideTheEkProfileParse) {
  // Parsing passes no verdict: the request's other structures come first.
  for (const char* key_type : {"rsa1024", "ecc-p224", "ed25519"}) {
    SCOPED_TRACE(key_type);
    EvpPkeyPtr key = testing::GenerateKey(key_type);
    EXPECT_TRUE(ParseEk(WithKey(std::string(AsStringView(PkixOf(key.get()))))).ok());
  }
}

absl::Status VerifyKey(const std::string& der) {
  Ek ek = ParseEk(WithKey(der)).value();
  return VerifyEk(&ek, nullptr, time(nullptr)).status();
}

TEST(VerifyEk, KeysOutsideTheEkProfileAreDenied) {
  EXPECT_DENIED(VerifyKey(KeyDer("rsa1024")), "unsupported EK key rsa1024");
  EXPECT_DENIED(VerifyKey(KeyDer("ecc-p224")), "unsupported EK key ecc-unknown");
  EvpPkeyPtr ed25519 = testing::GenerateKey("ed25519");
  EXPECT_DENIED(VerifyKey(std::string(AsStringView(PkixOf(ed25519.get())))),
                "unsupported EK key unknown");
  TestPki pki;
  Ek ek = ParseEk(WithCert(pki.IssueEk(SharedKey("rsa1024")).Der())).value();
  EXPECT_DENIED(VerifyEk(&ek, nullptr, time(nullptr)), "unsupported EK key rsa1024");
}

TEST(VerifyEk, WithoutCasAnythingInTheProfileGoes) {
  Ek ek = ParseEk(WithKey(KeyDer("rsa2048"))).value();
  EXPECT_TRUE(VerifyEk(&ek, nullptr, time(nullptr)).ok());
}

TEST(VerifyEk, WithCasACertificateIsRequired) {
  TestPki pki;
  std::vector<X509Ptr> anchors;
  anchors.emplace_back(X509_dup(pki.root.cert.get()));
  const CertChainVerifier chain = CertChainVerifier::New(std::move(anchors), {}).value();
  Ek ek = ParseEk(WithKey(KeyDer("rsa2048"))).value();
  EXPECT_DENIED(VerifyEk(&ek, &chain, time(nullptr)),
                "EK certificate required (the policy sets ekcert_allowed_cas) but the request "
                "carries only ek_key");
}

TEST(VerifyEk, CaCertificateIsNoEkCertificate) {
  // A CA certificate an allowed maker issued, presented as the EK
  // certificate: it chains, but it is no end entity.
  TestPki pki;
  std::vector<X509Ptr> anchors;
  anchors.emplace_back(X509_dup(pki.issuer.cert.get()));
  const CertChainVerifier chain = CertChainVerifier::New(std::move(anchors), {}).value();
  testing::CertSpec spec = testing::EkSpec();
  spec.is_ca = true;
  Ek ca = ParseEk(WithCert(pki.IssueEk(SharedKey("rsa2048"), spec).Der())).value();
  EXPECT_DENIED(VerifyEk(&ca, &chain, time(nullptr)),
                "the EK certificate is a CA certificate (basicConstraints cA TRUE), not an EK "
                "certificate");
  Ek ek = ParseEk(WithCert(pki.IssueEk(SharedKey("rsa2048")).Der())).value();
  const auto verified = VerifyEk(&ek, &chain, time(nullptr));
  EXPECT_TRUE(verified.ok()) << verified.status();
}

// The EK cache shares each EK's key among threads. OpenSSL 3.0 exports a
// legacy EVP_PKEY (d2i_PublicKey) to its provider lazily, on first use,
// writing into the key: every EK key must be provider-native from the start.
TEST(ParseEk, EveryCorpusEkKeyIsProviderNative) {
  const auto files = testing::ManifestTable("| File |");
  int eks = 0, oaep = 0;
  for (const auto& [file, cells] : files) {
    if (cells.size() < 2 || cells[1] != "EK") continue;
    SCOPED_TRACE(file);
    ++eks;
    if (cells[3].find("id-RSAES-OAEP") != std::string::npos) ++oaep;
    const Bytes der = ExtractCertificateDer(AsSpan(EkCertFile(file))).value();
    absl::StatusOr<Ek> ek = ParseEk(WithCert(std::string(AsStringView(der))));
    ASSERT_TRUE(ek.ok()) << ek.status();
    EXPECT_NE(EVP_PKEY_get0_provider(ek->pub.key.get()), nullptr);
  }
  EXPECT_EQ(eks, 18);
  EXPECT_EQ(oaep, 6);
}

TEST(ParseEk, SoftwareOaepAndPlainKeysAreProviderNative) {
  TestPki pki;
  for (bool oaep_spki : {false, true}) {
    SCOPED_TRACE(oaep_spki);
    testing::CertSpec spec = testing::EkSpec();
    spec.rsaes_oaep_spki = oaep_spki;
    Ek ek = ParseEk(WithCert(pki.IssueEk(SharedKey("rsa2048"), spec).Der())).value();
    EXPECT_NE(EVP_PKEY_get0_provider(ek.pub.key.get()), nullptr);
    EXPECT_EQ(ek.pub.pub_hash, PubHashOf(testing::CachedKey("rsa2048")));
  }
  for (const char* key_type : {"rsa2048", "ecc-p384"}) {
    Ek ek = ParseEk(WithKey(KeyDer(key_type))).value();
    EXPECT_NE(EVP_PKEY_get0_provider(ek.pub.key.get()), nullptr) << key_type;
  }
}

TEST(ParseEk, OaepKeyMustBeExactlyOneRsaPublicKey) {
  // The id-RSAES-OAEP key bits with a byte appended, and cut short.
  EvpPkeyPtr key = SharedKey("rsa2048");
  unsigned char* raw = nullptr;
  const int len = i2d_PublicKey(key.get(), &raw);
  ASSERT_GT(len, 0);
  const Bytes rsa_public_key(raw, raw + len);
  OPENSSL_free(raw);
  EXPECT_TRUE(RsaPublicKeyFromPkcs1(rsa_public_key).ok());
  Bytes longer = rsa_public_key;
  longer.push_back(0);
  EXPECT_INVALID_ARGUMENT(RsaPublicKeyFromPkcs1(longer), "not exactly one DER RSAPublicKey");
  const Bytes shorter(rsa_public_key.begin(), rsa_public_key.end() - 1);
  EXPECT_INVALID_ARGUMENT(RsaPublicKeyFromPkcs1(shorter), "not exactly one DER RSAPublicKey");
  EXPECT_INVALID_ARGUMENT(RsaPublicKeyFromPkcs1(Bytes{}), "not exactly one DER RSAPublicKey");
  EXPECT_INVALID_ARGUMENT(RsaPublicKeyFromPkcs1(PkixOf(key.get())), "");  // an SPKI, not PKCS #1
}

}  // namespace
}  // namespace tpmjoin::verifier
