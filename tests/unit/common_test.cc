#include <gtest/gtest.h>

#include "src/common/errors.h"
#include "src/common/hex.h"

namespace tpmjoin {
namespace {

TEST(Errors, EachConstructorMapsToItsAbiCode) {
  EXPECT_EQ(AbiCodeOf(absl::OkStatus()), AbiCode::kOk);
  EXPECT_EQ(AbiCodeOf(InvalidArgumentError("x")), AbiCode::kInvalidArgument);
  EXPECT_EQ(AbiCodeOf(BadMessageError("x")), AbiCode::kBadMessage);
  EXPECT_EQ(AbiCodeOf(TpmError("x")), AbiCode::kTpm);
  EXPECT_EQ(AbiCodeOf(TpmUnavailableError("x")), AbiCode::kTpmUnavailable);
  EXPECT_EQ(AbiCodeOf(StateError("x")), AbiCode::kState);
  EXPECT_EQ(AbiCodeOf(DeniedError("x")), AbiCode::kDenied);
  EXPECT_EQ(AbiCodeOf(InternalError("x")), AbiCode::kInternal);
}

TEST(Errors, ForeignStatusesMapByCode) {
  EXPECT_EQ(AbiCodeOf(absl::InvalidArgumentError("x")), AbiCode::kInvalidArgument);
  EXPECT_EQ(AbiCodeOf(absl::NotFoundError("x")), AbiCode::kInternal);
  EXPECT_EQ(AbiCodeOf(absl::UnknownError("x")), AbiCode::kInternal);
}

TEST(Errors, AnnotateKeepsTheAbiCode) {
  const absl::Status s = Annotate(Annotate(DeniedError("rule"), "policy"), "challenge");
  EXPECT_EQ(AbiCodeOf(s), AbiCode::kDenied);
  EXPECT_EQ(s.message(), "challenge: policy: rule");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

TEST(Hex, EncodeIsLowercase) {
  EXPECT_EQ(HexEncode(Bytes{0x00, 0xAB, 0xff}), "00abff");
  EXPECT_EQ(ColonHex(Bytes{0x04, 0xc0, 0x1d}), "04:c0:1d");
  EXPECT_EQ(ColonHex(Bytes{}), "");
}

TEST(Hex, DecodeAcceptsCaseAndOptionalColons) {
  EXPECT_EQ(HexDecode("00AbfF"), (Bytes{0x00, 0xab, 0xff}));
  EXPECT_EQ(HexDecode("04:C0:1d", true), (Bytes{0x04, 0xc0, 0x1d}));
  EXPECT_EQ(HexDecode("", true), Bytes{});
}

TEST(Hex, DecodeRejectsMalformedText) {
  EXPECT_FALSE(HexDecode("abc"));
  EXPECT_FALSE(HexDecode("zz"));
  EXPECT_FALSE(HexDecode("04:c0"));  // colons not allowed here
  EXPECT_FALSE(HexDecode(":04", true));
  EXPECT_FALSE(HexDecode("04:", true));  // trailing colon
  EXPECT_FALSE(HexDecode("04:c0:", true));
  EXPECT_FALSE(HexDecode(":", true));
  EXPECT_FALSE(HexDecode("04:c0:1d:", true));
  EXPECT_FALSE(HexDecode("04::c0", true));
  EXPECT_FALSE(HexDecode("0:4c0", true));
}

}  // namespace
}  // namespace tpmjoin

#include <fstream>
#include <iterator>

#include "src/common/tpm_mu.h"

namespace tpmjoin {
namespace {

// Found by fuzz/fuzz_tpm_structures: tss2-mu accepts a TPM2B_PUBLIC of size
// 0 (and would marshal it differently); a strict parser does not.
TEST(Unmarshal, RejectsNonCanonicalEncodings) {
  const Bytes empty_public = {0x00, 0x00};
  auto pub = Unmarshal<TPM2B_PUBLIC>(empty_public, "public");
  ASSERT_FALSE(pub.ok());
  EXPECT_EQ(AbiCodeOf(pub.status()), AbiCode::kBadMessage);
  EXPECT_NE(pub.status().message().find("canonical"), absl::string_view::npos);
}

TEST(Unmarshal, RejectsTrailingAndTruncatedBytes) {
  const Bytes digest = {0x00, 0x02, 0xaa, 0xbb};
  ASSERT_TRUE(Unmarshal<TPM2B_DIGEST>(digest, "d").ok());
  Bytes trailing = digest;
  trailing.push_back(0);
  EXPECT_NE(Unmarshal<TPM2B_DIGEST>(trailing, "d").status().message().find("1 trailing bytes"),
            absl::string_view::npos);
  EXPECT_EQ(AbiCodeOf(Unmarshal<TPM2B_DIGEST>(ByteSpan(digest).subspan(0, 3), "d").status()),
            AbiCode::kBadMessage);
  EXPECT_EQ(AbiCodeOf(Unmarshal<TPM2B_DIGEST>(Bytes{0xff, 0xff}, "d").status()),
            AbiCode::kBadMessage);
}

TEST(Marshal, RoundTripsAStructure) {
  TPM2B_DIGEST d = {};
  d.size = 3;
  d.buffer[0] = 1;
  auto bytes = Marshal(d);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, (Bytes{0x00, 0x03, 0x01, 0x00, 0x00}));
  auto back = Unmarshal<TPM2B_DIGEST>(*bytes, "d");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->size, 3);
}

}  // namespace
}  // namespace tpmjoin

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <filesystem>

#include "src/common/ek_cert.h"
#include "src/common/keys.h"

namespace tpmjoin {
namespace {

Bytes OpensslSpki(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

EvpPkeyPtr Generate(const char* type, const char* param) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  EXPECT_EQ(EVP_PKEY_keygen_init(ctx.get()), 1);
  if (std::string(type) == "RSA") {
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), std::atoi(param)), 1);
  } else {
    EXPECT_EQ(EVP_PKEY_CTX_set_group_name(ctx.get(), param), 1);
  }
  EXPECT_EQ(EVP_PKEY_generate(ctx.get(), &key), 1);
  return EvpPkeyPtr(key);
}

// PkixDer writes SubjectPublicKeyInfo itself (OpenSSL's encoders are slow):
// it must be exactly what OpenSSL writes, for every key type an EK can have.
TEST(PkixDer, MatchesOpensslForGeneratedKeys) {
  const std::pair<const char*, const char*> keys[] = {
      {"RSA", "2048"}, {"RSA", "3072"}, {"RSA", "1024"},
      {"EC", "prime256v1"}, {"EC", "secp384r1"}, {"EC", "secp521r1"}, {"EC", "secp224r1"}};
  for (const auto& [type, param] : keys) {
    for (int i = 0; i < 4; ++i) {  // several keys: leading zero bytes in x/y
      EvpPkeyPtr key = Generate(type, param);
      auto ours = PkixDer(key.get());
      ASSERT_TRUE(ours.ok()) << ours.status();
      EXPECT_EQ(*ours, OpensslSpki(key.get())) << type << " " << param;
    }
  }
}

TEST(PkixDer, MatchesOpensslForRealEkCertificates) {
  const std::filesystem::path dir = TPMJOIN_SHARED_TESTDATA_DIR "/ek-certs";
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".pem") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto der = ExtractCertificateDer(AsSpan(pem));
    ASSERT_TRUE(der.ok()) << entry.path();
    auto cert = ParseCertificateDer(*der);
    ASSERT_TRUE(cert.ok()) << entry.path();
    auto key = CertificatePublicKey(cert->get());
    ASSERT_TRUE(key.ok()) << entry.path();
    auto ours = PkixDer(key->get());
    ASSERT_TRUE(ours.ok()) << entry.path();
    EXPECT_EQ(*ours, OpensslSpki(key->get())) << entry.path();
    ++checked;
  }
  EXPECT_GE(checked, 40);
}

}  // namespace
}  // namespace tpmjoin
