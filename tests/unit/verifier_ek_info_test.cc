// tpmjoin_ek_info's description of EK certificates and keys, checked
// against every EK certificate of the shared corpus (MANIFEST.md).
#include <gtest/gtest.h>

#include <openssl/err.h>

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/verifier/ek_info.h"
#include "tests/unit/verifier_test_util.h"

namespace tpmjoin::verifier {
namespace {

using testing::EkCertFile;
using testing::LoadEkCert;
using testing::ManifestTable;

nlohmann::json Describe(const std::string& data) {
  absl::StatusOr<std::string> json = DescribeEk(AsSpan(data));
  EXPECT_TRUE(json.ok()) << json.status();
  return nlohmann::json::parse(json.value_or("{}"));
}

// "RSA 2048 / ..." -> "rsa2048", "ECC P-256 / ..." -> "ecc-p256".
std::string KeyTypeFromManifest(const std::string& cell) {
  if (cell.rfind("RSA ", 0) == 0) return "rsa" + cell.substr(4, 4);
  std::string curve = cell.substr(4, cell.find(' ', 4) - 4);  // "P-256"
  return "ecc-p" + curve.substr(2);
}

// Serial column: DER INTEGER content in hex, maybe with a sign byte.
std::string SerialFromManifest(const std::string& cell) {
  Bytes bytes = testing::Hex(cell.substr(1, cell.size() - 2));
  if (bytes.size() > 1 && bytes[0] == 0) bytes.erase(bytes.begin());
  return ColonHex(bytes);
}

// "manufacturer='id:49465800'(UTF8), model='SLB 9670 TPM2.0'(UTF8), ..."
std::string SanField(const std::string& cell, const std::string& field) {
  const size_t start = cell.find(field + "='");
  if (start == std::string::npos) return "";
  const size_t value = start + field.size() + 2;
  return cell.substr(value, cell.find('\'', value) - value);
}

struct CorpusEk {
  std::string file;
  std::vector<std::string> cells;      // file table row
  std::vector<std::string> san_cells;  // SAN table row
};

std::vector<CorpusEk> CorpusEks() {
  const auto files = ManifestTable("| File |");
  const auto sans = ManifestTable("| EK file |");
  std::vector<CorpusEk> out;
  for (const auto& [file, cells] : files) {
    if (cells.size() > 1 && cells[1] == "EK") {
      const auto san = sans.find(file);
      out.push_back({file, cells, san == sans.end() ? std::vector<std::string>{} : san->second});
    }
  }
  return out;
}

class CorpusEkInfo : public ::testing::TestWithParam<CorpusEk> {};

TEST_P(CorpusEkInfo, DescribesTheCertificate) {
  const CorpusEk& ek = GetParam();
  const nlohmann::json info = Describe(EkCertFile(ek.file));
  EXPECT_EQ(info["ek_cert_present"], true);
  EXPECT_EQ(info["key_type"], KeyTypeFromManifest(ek.cells[3]));
  EXPECT_EQ(info["ek_cert_serial"], SerialFromManifest(ek.cells[4]));
  ASSERT_EQ(ek.san_cells.size(), 5u) << "no SAN row for " << ek.file;
  EXPECT_EQ(info["tpm_manufacturer"], SanField(ek.san_cells[3], "manufacturer"));
  EXPECT_EQ(info["tpm_model"], SanField(ek.san_cells[3], "model"));
  EXPECT_EQ(info["tpm_version"], SanField(ek.san_cells[3], "version"));
  EXPECT_EQ(info["subject"].get<std::string>().empty(), ek.san_cells[1] == "(empty)");
  EXPECT_FALSE(info["issuer"].get<std::string>().empty());
  EXPECT_EQ(info["not_after"].get<std::string>().size(), 20u);
}

TEST_P(CorpusEkInfo, HashIsSha256OfTheEksPkixDer) {
  X509Ptr cert = LoadEkCert(GetParam().file);
  const nlohmann::json info = Describe(EkCertFile(GetParam().file));
  ERR_clear_error();
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  if (key == nullptr) {
    // id-RSAES-OAEP (TPM 1.2): the hash is of the plain RSA key's PKIX DER.
    ERR_clear_error();
    EXPECT_EQ(info["key_type"], "rsa2048");
    EvpPkeyPtr rsa = CertificatePublicKey(cert.get()).value();
    EXPECT_EQ(info["ek_pub_hash"], testing::PubHashOf(rsa.get()));
    return;
  }
  // For ordinary keys, the certificate's own SubjectPublicKeyInfo bytes.
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert.get()), &der);
  const std::string hash = HexEncode(Digest(EVP_sha256(), {ByteSpan(der, len)}).value());
  OPENSSL_free(der);
  EXPECT_EQ(info["ek_pub_hash"], hash);
  EXPECT_EQ(info["ek_pub_pem"], ToPem("PUBLIC KEY", ByteSpan(testing::PkixOf(key))));
}

INSTANTIATE_TEST_SUITE_P(Corpus, CorpusEkInfo, ::testing::ValuesIn(CorpusEks()),
                         [](const ::testing::TestParamInfo<CorpusEk>& info) {
                           std::string name = info.param.file.substr(0, info.param.file.size() - 4);
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(EkInfo, CorpusHasEighteenEkCertificates) { EXPECT_EQ(CorpusEks().size(), 18u); }

TEST(EkInfo, RawNvBlobsDescribeLikeTheirCertificates) {
  for (const auto& [raw, pem] : std::vector<std::pair<std::string, std::string>>{
           {"stm-ek-rsa2048-int05.nvraw.bin", "stm-ek-rsa2048-int05.pem"},
           {"nuvoton-ek-tpm12-rsa2048-root2010.nvraw.bin", "nuvoton-ek-tpm12-rsa2048-root2010.pem"},
           {"stm-ek-tpm12-rsa2048-int02-b.nvraw.bin", "stm-ek-tpm12-rsa2048-int02-b.pem"},
           {"infineon-ek-tpm12-rsa2048-ca08.nvraw.bin", "infineon-ek-tpm12-rsa2048-ca08.pem"}}) {
    SCOPED_TRACE(raw);
    EXPECT_EQ(Describe(EkCertFile(raw)), Describe(EkCertFile(pem)));
  }
}

TEST(EkInfo, DerCertificate) {
  const std::string der = testing::TestPki().IssueEk(testing::SharedKey("ecc-p384")).Der();
  const nlohmann::json info = Describe(der);
  EXPECT_EQ(info["key_type"], "ecc-p384");
  EXPECT_EQ(info["ek_cert_serial"], "13:37");
  EXPECT_EQ(info["tpm_model"], "SoftTPM");
  EXPECT_EQ(info["subject"], "");
}

TEST(EkInfo, CertificateWithoutSan) {
  const nlohmann::json info = Describe(EkCertFile("google-ek-rsa2048-gce-privateca.pem"));
  EXPECT_EQ(info["tpm_manufacturer"], "");
  EXPECT_EQ(info["ek_cert_serial"], "cd:8f:c6:08:d1:fa:7b:b7:c3:43:9f:ad:dc:90:44:3d:a7:b4:cd");
  EXPECT_NE(info["subject"], "");
}

TEST(EkInfo, PublicKeyDerAndPem) {
  EVP_PKEY* key = testing::CachedKey("ecc-p256");
  const Bytes der = testing::PkixOf(key);
  for (const std::string& input :
       {std::string(AsStringView(der)), ToPem("PUBLIC KEY", der)}) {
    const nlohmann::json info = Describe(input);
    EXPECT_EQ(info["ek_cert_present"], false);
    EXPECT_EQ(info["ek_pub_hash"], testing::PubHashOf(key));
    EXPECT_EQ(info["key_type"], "ecc-p256");
    EXPECT_EQ(info["ek_cert_serial"], "");
    EXPECT_EQ(info["issuer"], "");
    EXPECT_EQ(info["ek_pub_pem"], ToPem("PUBLIC KEY", der));
  }
}

TEST(EkInfo, NeitherCertificateNorKeyIsInvalidArgument) {
  EXPECT_INVALID_ARGUMENT(DescribeEk(AsSpan("")), "no input");
  EXPECT_INVALID_ARGUMENT(DescribeEk(AsSpan("hello")), "neither an X.509 certificate");
  EXPECT_INVALID_ARGUMENT(
      DescribeEk(AsSpan("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")), "");
  const std::string der = testing::TestPki().IssueEk(testing::SharedKey("rsa2048")).Der();
  EXPECT_INVALID_ARGUMENT(DescribeEk(AsSpan(der.substr(0, der.size() / 2))), "");
}

TEST(EkInfo, IntelEkServiceJsonDescribesLikeItsCertificate) {
  // ekop.intel.com: {"pubhash":..., "certificate": URL-safe base64, '=' as %3D}.
  for (const char* name : {"intel-ek-ecc-p256-ptt-glk", "intel-ek-rsa2048-ptt-spth"}) {
    SCOPED_TRACE(name);
    const std::string json = EkCertFile(absl::StrCat(name, ".ekop.json"));
    ASSERT_EQ(json.rfind("{\"pubhash\":", 0), 0u);
    EXPECT_EQ(Describe(json), Describe(EkCertFile(absl::StrCat(name, ".pem"))));
  }
}

TEST(EkInfo, IntelEkServiceJsonWithPaddingAndWhitespace) {
  // No padding, "%3D" and "%3D%3D": ECDSA signatures vary in length, so a
  // few certificates cover every DER length modulo 3.
  const testing::TestPki pki;
  std::set<size_t> paddings_seen;
  for (int i = 0; i < 64 && paddings_seen.size() < 3; ++i) {
    const std::string der = pki.IssueEk(testing::SharedKey("ecc-p256")).Der();
    std::string base64 = absl::WebSafeBase64Escape(der);  // unpadded
    const size_t padding = (4 - base64.size() % 4) % 4;
    if (!paddings_seen.insert(padding).second) continue;
    SCOPED_TRACE(padding);
    for (size_t p = 0; p < padding; ++p) base64 += "%3D";
    const std::string json = "\n  " + nlohmann::json{{"certificate", base64}}.dump() + "\n";
    EXPECT_EQ(Describe(json), Describe(der));
  }
  EXPECT_EQ(paddings_seen.size(), 3u);
}

TEST(EkInfo, OtherJsonIsRejectedNamingTheExpectedFormat) {
  EXPECT_INVALID_ARGUMENT(DescribeEk(AsSpan("{\"pubhash\":\"x\"}")),
                          "JSON input: want the response of Intel's EK certificate service "
                          "({\"certificate\": \"<URL-safe base64 DER>\"}), but it has no "
                          "\"certificate\" string");
  EXPECT_INVALID_ARGUMENT(DescribeEk(AsSpan("{\"certificate\":7}")), "no \"certificate\" string");
  EXPECT_INVALID_ARGUMENT(DescribeEk(AsSpan("{not json")), "but it is not a JSON object");
  EXPECT_INVALID_ARGUMENT(DescribeEk(AsSpan("{\"certificate\":\"!!!\"}")),
                          "is not URL-safe base64");
  EXPECT_INVALID_ARGUMENT(DescribeEk(AsSpan("{\"certificate\":\"aGVsbG8\"}")),
                          "Intel EK certificate service JSON: \"certificate\": not an X.509");
}

}  // namespace
}  // namespace tpmjoin::verifier
