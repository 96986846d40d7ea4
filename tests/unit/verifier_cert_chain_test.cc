// EK certificate path validation: every chain of the shared corpus
// (MANIFEST.md), partial chains, validity, wrong CAs, and the two special
// paths (TPM 1.2 id-RSAES-OAEP leaves, Infineon's AKID issuer+serial).
#include <gtest/gtest.h>

#include <openssl/err.h>

#include "src/verifier/cert_chain.h"
#include "tests/unit/verifier_test_util.h"

namespace tpmjoin::verifier {
namespace {

using testing::CaSpec;
using testing::CertSpec;
using testing::EkSpec;
using testing::IssueCertificate;
using testing::LoadEkCert;
using testing::ManifestChain;
using testing::ManifestChains;
using testing::SharedKey;
using testing::TestCert;
using testing::TestPki;
using testing::TimeInsideValidity;

// Copies of `certs`.
std::vector<X509Ptr> Certs(std::initializer_list<X509*> certs) {
  std::vector<X509Ptr> out;
  for (X509* cert : certs) out.push_back(X509Ptr(X509_dup(cert)));
  return out;
}

std::vector<X509Ptr> Load(const std::vector<std::string>& names) {
  std::vector<X509Ptr> out;
  for (const std::string& name : names) out.push_back(LoadEkCert(name));
  return out;
}

CertChainVerifier Make(std::vector<X509Ptr> anchors, std::vector<X509Ptr> intermediates = {}) {
  absl::StatusOr<CertChainVerifier> v =
      CertChainVerifier::New(std::move(anchors), std::move(intermediates));
  EXPECT_TRUE(v.ok()) << v.status();
  return std::move(v).value();
}

time_t ChainTime(const ManifestChain& chain) {
  std::vector<X509Ptr> certs = Load(chain.intermediates);
  certs.push_back(LoadEkCert(chain.anchor));
  certs.push_back(LoadEkCert(chain.leaf));
  std::vector<X509*> raw;
  for (auto& c : certs) raw.push_back(c.get());
  return TimeInsideValidity(raw);
}

class ManifestChainTest : public ::testing::TestWithParam<ManifestChain> {};

TEST_P(ManifestChainTest, VerifiesWithItsListedAnchor) {
  const ManifestChain& chain = GetParam();
  CertChainVerifier v = Make(Load({chain.anchor}), Load(chain.intermediates));
  X509Ptr leaf = LoadEkCert(chain.leaf);
  const absl::Status status = v.Verify(leaf.get(), ChainTime(chain)).status();
  EXPECT_TRUE(status.ok()) << status;
}

TEST_P(ManifestChainTest, VerifiesWithTheIssuingCaAloneAsAnchor) {
  // Every listed CA is a trust anchor: the issuer of the EK suffices.
  const ManifestChain& chain = GetParam();
  const std::string issuer =
      chain.intermediates.empty() ? chain.anchor : chain.intermediates.front();
  CertChainVerifier v = Make(Load({issuer}));
  X509Ptr leaf = LoadEkCert(chain.leaf);
  const absl::Status status = v.Verify(leaf.get(), ChainTime(chain)).status();
  EXPECT_TRUE(status.ok()) << status;
}

TEST_P(ManifestChainTest, IsDeniedByAnotherMakersRoot) {
  const ManifestChain& chain = GetParam();
  const bool nuvoton = chain.anchor.rfind("nuvoton", 0) == 0;
  CertChainVerifier v =
      Make(Load({nuvoton ? "intel-root-ecc-ptt-ek-root.pem" : "nuvoton-root-ecc-2111.pem"}),
           Load(chain.intermediates));
  X509Ptr leaf = LoadEkCert(chain.leaf);
  EXPECT_DENIED(v.Verify(leaf.get(), ChainTime(chain)).status(), "does not chain to any");
}

std::string ChainName(const ::testing::TestParamInfo<ManifestChain>& info) {
  std::string name = info.param.leaf.substr(0, info.param.leaf.size() - 4);
  for (char& c : name) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Corpus, ManifestChainTest, ::testing::ValuesIn(ManifestChains()),
                         ChainName);

std::vector<ManifestChain> ChainsWithIntermediates() {
  std::vector<ManifestChain> out;
  for (const ManifestChain& chain : ManifestChains()) {
    if (!chain.intermediates.empty()) out.push_back(chain);
  }
  return out;
}

class ManifestChainWithIntermediatesTest : public ::testing::TestWithParam<ManifestChain> {};

TEST_P(ManifestChainWithIntermediatesTest, IsDeniedWithoutItsIntermediates) {
  const ManifestChain& chain = GetParam();
  CertChainVerifier v = Make(Load({chain.anchor}));
  X509Ptr leaf = LoadEkCert(chain.leaf);
  EXPECT_DENIED(v.Verify(leaf.get(), ChainTime(chain)).status(), "does not chain to any");
}

INSTANTIATE_TEST_SUITE_P(Corpus, ManifestChainWithIntermediatesTest,
                         ::testing::ValuesIn(ChainsWithIntermediates()), ChainName);

TEST(ManifestChains, AllEighteenAreListed) { EXPECT_EQ(ManifestChains().size(), 18u); }

TEST(CertChain, ExpiredTpm12CertificatesAreDeniedToday) {
  // Four of the TPM 1.2 EK certificates have expired; checked at the
  // current time they are denied as expired, not as unknown.
  CertChainVerifier v = Make(Load({"globalsign-root-rsa-tpm-root-ca.pem"}),
                             Load({"stm-intermediate-rsa-ekca02.pem",
                                   "stm-intermediate-rsa-ekroot-by-globalsign.pem"}));
  X509Ptr leaf = LoadEkCert("stm-ek-tpm12-rsa2048-int02-a.pem");
  EXPECT_DENIED(v.Verify(leaf.get(), time(nullptr)).status(), "the EK certificate expired at 2024-02-22");
}

TEST(CertChain, SoftwareEkCertificateWithTcgQuirksVerifies) {
  // Empty subject, critical TCG subjectAltName, EKU 2.23.133.8.1.
  TestPki pki;
  const TestCert ek = pki.IssueEk(SharedKey("rsa2048"));
  CertChainVerifier v = Make(Certs({pki.root.cert.get()}), Certs({pki.issuer.cert.get()}));
  const absl::Status status = v.Verify(ek.cert.get(), time(nullptr)).status();
  EXPECT_TRUE(status.ok()) << status;
}

TEST(CertChain, NeedsAnAnchor) { EXPECT_FALSE(CertChainVerifier::New({}, {}).ok()); }

// --- Every check, for a leaf OpenSSL can decode (X509_verify_cert does all)
// and for a TPM 1.2 style id-RSAES-OAEP leaf it cannot (first link by hand) --

class LeafTest : public ::testing::TestWithParam<bool> {
 public:
  CertSpec LeafSpec() const {
    CertSpec spec = EkSpec();
    spec.rsaes_oaep_spki = GetParam();
    return spec;
  }

 protected:
  TestCert IssueLeaf(const TestCert& issuer, const CertSpec& spec) const {
    TestCert leaf = IssueCertificate(spec, &issuer, SharedKey("rsa2048"));
    EXPECT_EQ(X509_get0_pubkey(leaf.cert.get()) == nullptr, GetParam());
    ERR_clear_error();
    return leaf;
  }
  // A leaf issued by a CA made from `issuer_spec` (itself issued by the test
  // PKI's issuing CA), checked with that CA as an intermediate under the
  // issuing CA, or (`issuer_is_anchor`) listed as the anchor itself.
  absl::Status VerifyLeafOf(const CertSpec& issuer_spec, bool issuer_is_anchor = false) const {
    TestPki pki;
    const TestCert issuer = IssueCertificate(issuer_spec, &pki.issuer);
    const TestCert leaf = IssueLeaf(issuer, LeafSpec());
    CertChainVerifier v = issuer_is_anchor
                              ? Make(Certs({issuer.cert.get()}))
                              : Make(Certs({pki.issuer.cert.get()}), Certs({issuer.cert.get()}));
    return v.Verify(leaf.cert.get(), time(nullptr)).status();
  }
  // A leaf made from `spec`, checked against the test PKI's issuing CA.
  absl::Status VerifyLeaf(const CertSpec& spec) const {
    TestPki pki;
    const TestCert leaf = IssueLeaf(pki.issuer, spec);
    return Make(Certs({pki.issuer.cert.get()})).Verify(leaf.cert.get(), time(nullptr)).status();
  }
};

TEST_P(LeafTest, VerifiesThroughAnIntermediate) {
  TestPki pki;
  const TestCert leaf = IssueLeaf(pki.issuer, LeafSpec());
  CertChainVerifier v = Make(Certs({pki.root.cert.get()}), Certs({pki.issuer.cert.get()}));
  const absl::Status status = v.Verify(leaf.cert.get(), time(nullptr)).status();
  EXPECT_TRUE(status.ok()) << status;
}

TEST_P(LeafTest, IssuerMustBeListed) {
  TestPki pki;
  const TestCert leaf = IssueLeaf(pki.issuer, LeafSpec());
  EXPECT_DENIED(Make(Certs({pki.root.cert.get()})).Verify(leaf.cert.get(), time(nullptr)).status(),
                "does not chain to any");
}

TEST_P(LeafTest, ExpiredLeafIsDenied) {
  CertSpec spec = LeafSpec();
  spec.not_after = time(nullptr) - 60;
  EXPECT_DENIED(VerifyLeaf(spec), "the EK certificate expired at");
}

TEST_P(LeafTest, NotYetValidLeafIsDenied) {
  CertSpec spec = LeafSpec();
  spec.not_before = time(nullptr) + 3600;
  EXPECT_DENIED(VerifyLeaf(spec), "the EK certificate is not valid before");
}

TEST_P(LeafTest, UnknownCriticalExtensionIsDenied) {
  CertSpec spec = LeafSpec();
  spec.unknown_critical_extension = true;
  EXPECT_DENIED(VerifyLeaf(spec), "unhandled critical extension");
}

TEST_P(LeafTest, ForgedSignatureIsDenied) {
  // An impostor CA with the same name and key identifier but another key:
  // the issuer lookup succeeds, the signature does not verify.
  TestPki pki;
  CertSpec impostor_spec = CaSpec("Test TPM EK Issuing CA", 2);
  const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(pki.issuer.cert.get());
  impostor_spec.subject_key_id = Bytes(skid->data, skid->data + skid->length);
  const TestCert impostor = IssueCertificate(impostor_spec, &pki.root);
  const TestCert leaf = IssueLeaf(impostor, LeafSpec());
  EXPECT_DENIED(Make(Certs({pki.issuer.cert.get()})).Verify(leaf.cert.get(), time(nullptr)).status(),
                "signature");
}

TEST_P(LeafTest, IssuerThatIsNotACaIsDenied) {
  // keyCertSign, but basicConstraints CA:FALSE.
  CertSpec not_ca = EkSpec(7);
  not_ca.subject_cn = "Not a CA";
  not_ca.key_usage = "critical,keyCertSign";
  EXPECT_DENIED(VerifyLeafOf(not_ca),
                "CA certificate \"CN=Not a CA\" (depth 1) is not a CA certificate");
}

TEST_P(LeafTest, IntermediateWithoutBasicConstraintsIsDenied) {
  // keyCertSign but no basicConstraints: X509_check_ca says 4 ("maybe a
  // CA"), which X509_verify_cert refuses for an intermediate; the
  // hand-checked link of an id-RSAES-OAEP leaf must refuse it too.
  CertSpec spec = CaSpec("No basicConstraints CA", 10);
  spec.no_basic_constraints = true;
  EXPECT_DENIED(VerifyLeafOf(spec),
                "CA certificate \"CN=No basicConstraints CA\" (depth 1) is not a CA certificate");
}

TEST_P(LeafTest, ListedAnchorWithoutBasicConstraintsIsTrusted) {
  // The operator listed it: as X509_verify_cert treats trust anchors, a
  // keyCertSign certificate without basicConstraints may issue the EK.
  CertSpec spec = CaSpec("No basicConstraints CA", 10);
  spec.no_basic_constraints = true;
  const absl::Status status = VerifyLeafOf(spec, /*issuer_is_anchor=*/true);
  EXPECT_TRUE(status.ok()) << status;
}

TEST_P(LeafTest, IssuerWithoutKeyCertSignIsNotAnIssuer) {
  CertSpec no_sign = CaSpec("No certSign CA", 8);
  no_sign.key_usage = "critical,digitalSignature";
  EXPECT_DENIED(VerifyLeafOf(no_sign), "does not chain to any");
}

TEST_P(LeafTest, ExpiredIntermediateIsNamed) {
  TestPki pki;
  CertSpec spec = CaSpec("Expired EK CA", 9);
  spec.not_after = time(nullptr) - 3600;
  const TestCert old_ca = IssueCertificate(spec, &pki.root);
  const TestCert leaf = IssueLeaf(old_ca, LeafSpec());
  CertChainVerifier v = Make(Certs({pki.root.cert.get()}), Certs({old_ca.cert.get()}));
  EXPECT_DENIED(v.Verify(leaf.cert.get(), time(nullptr)).status(),
                "CA certificate \"CN=Expired EK CA\" (depth 1) expired");
}

// root (pathlen N) -> CA1 -> CA2 -> leaf: two intermediates follow the root.
absl::Status VerifyUnderRootWithPathLength(const LeafTest& test, long path_length) {
  CertSpec root_spec = CaSpec("Pathlen Root", 20);
  root_spec.path_length = path_length;
  const TestCert root = IssueCertificate(root_spec);
  const TestCert ca1 = IssueCertificate(CaSpec("Pathlen CA1", 21), &root);
  const TestCert ca2 = IssueCertificate(CaSpec("Pathlen CA2", 22), &ca1);
  const TestCert leaf = IssueCertificate(test.LeafSpec(), &ca2, SharedKey("rsa2048"));
  CertChainVerifier v = Make(Certs({root.cert.get()}), Certs({ca1.cert.get(), ca2.cert.get()}));
  return v.Verify(leaf.cert.get(), time(nullptr)).status();
}

TEST_P(LeafTest, PathLengthConstraintCountsTheLeafsIssuer) {
  // pathlen 1 allows CA1 but not CA2 below the root. (For an undecodable
  // leaf OpenSSL verifies CA2's path with CA2 as its leaf, where it counts
  // one intermediate only; the hand-checked link must add CA2.)
  EXPECT_DENIED(VerifyUnderRootWithPathLength(*this, 1),
                "CA certificate \"CN=Pathlen Root\" (depth 3): path length constraint exceeded");
  const absl::Status status = VerifyUnderRootWithPathLength(*this, 2);
  EXPECT_TRUE(status.ok()) << status;
}

INSTANTIATE_TEST_SUITE_P(DecodableAndOaepKeys, LeafTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "RsaesOaepKey" : "RsaKey";
                         });

// --- Quirks MANIFEST.md lists ------------------------------------------------

// Two Google "EK/AK CA Intermediate" certificates share one DN but not the
// key; only -a issued the Private-CA EK.
constexpr char kGoogleEk[] = "google-ek-rsa2048-gce-privateca.pem";
constexpr char kGoogleRoot[] = "google-root-rsa-ek-ak-ca-root.pem";
constexpr char kGoogleIntermediateA[] = "google-intermediate-rsa-ekak-ca-a.pem";
constexpr char kGoogleIntermediateV3[] = "google-intermediate-rsa-ekak-ca-v3.pem";

time_t GoogleTime() {
  X509Ptr ek = LoadEkCert(kGoogleEk);
  X509Ptr root = LoadEkCert(kGoogleRoot);
  X509Ptr a = LoadEkCert(kGoogleIntermediateA);
  X509Ptr v3 = LoadEkCert(kGoogleIntermediateV3);
  return TimeInsideValidity({ek.get(), root.get(), a.get(), v3.get()});
}

TEST(ManifestQuirks, SameDnIntermediatesAreTheSameNameOnly) {
  X509Ptr a = LoadEkCert(kGoogleIntermediateA);
  X509Ptr v3 = LoadEkCert(kGoogleIntermediateV3);
  ASSERT_EQ(X509_NAME_cmp(X509_get_subject_name(a.get()), X509_get_subject_name(v3.get())), 0);
  ASSERT_NE(EVP_PKEY_eq(X509_get0_pubkey(a.get()), X509_get0_pubkey(v3.get())), 1);
}

TEST(ManifestQuirks, SameDnIntermediateWithAnotherKeyIsNoAnchorForTheEk) {
  X509Ptr ek = LoadEkCert(kGoogleEk);
  EXPECT_DENIED(Make(Load({kGoogleIntermediateV3})).Verify(ek.get(), GoogleTime()).status(),
                "does not chain to any of ekcert_allowed_cas");
  // Nor does it lead to the root as the only intermediate.
  EXPECT_DENIED(Make(Load({kGoogleRoot}), Load({kGoogleIntermediateV3}))
                    .Verify(ek.get(), GoogleTime())
                    .status(),
                "does not chain to any of ekcert_allowed_cas");
  // The right one does, as anchor.
  const absl::Status status =
      Make(Load({kGoogleIntermediateA})).Verify(ek.get(), GoogleTime()).status();
  EXPECT_TRUE(status.ok()) << status;
}

TEST(ManifestQuirks, BothSameDnIntermediatesInEitherOrderVerify) {
  X509Ptr ek = LoadEkCert(kGoogleEk);
  for (const std::vector<std::string>& order :
       {std::vector<std::string>{kGoogleIntermediateA, kGoogleIntermediateV3},
        std::vector<std::string>{kGoogleIntermediateV3, kGoogleIntermediateA}}) {
    SCOPED_TRACE(order.front());
    const absl::Status status =
        Make(Load({kGoogleRoot}), Load(order)).Verify(ek.get(), GoogleTime()).status();
    EXPECT_TRUE(status.ok()) << status;
    // And both as anchors, in either order.
    const absl::Status anchors = Make(Load(order)).Verify(ek.get(), GoogleTime()).status();
    EXPECT_TRUE(anchors.ok()) << anchors;
  }
}

TEST(ManifestQuirks, IntelOnDieRootWithNullSignatureParameterIsAnAnchor) {
  // The root's own ecdsa-with-SHA384 AlgorithmIdentifier carries a NULL
  // parameter (RFC 5758 says absent); as an anchor it still works.
  X509Ptr root = LoadEkCert("intel-root-ecc-ondie-ca-root.pem");
  ASSERT_NE(root, nullptr);
  const X509_ALGOR* sig_alg = nullptr;
  X509_get0_signature(nullptr, &sig_alg, root.get());
  int param_type = V_ASN1_UNDEF;
  X509_ALGOR_get0(nullptr, &param_type, nullptr, sig_alg);
  ASSERT_EQ(param_type, V_ASN1_NULL);
  for (const char* name :
       {"intel-intermediate-ecc-odca-ca2-csme.pem", "intel-intermediate-ecc-odca-ca2-osse.pem"}) {
    SCOPED_TRACE(name);
    X509Ptr intermediate = LoadEkCert(name);
    const time_t at = TimeInsideValidity({root.get(), intermediate.get()});
    const absl::Status status =
        Make(Load({"intel-root-ecc-ondie-ca-root.pem"})).Verify(intermediate.get(), at).status();
    EXPECT_TRUE(status.ok()) << status;
    // Not under another maker's root.
    EXPECT_DENIED(
        Make(Load({"intel-root-ecc-ptt-ek-root.pem"})).Verify(intermediate.get(), at).status(),
        "does not chain to any");
  }
}

// --- AuthorityKeyIdentifier naming another certificate of the issuer key ---

TEST(AkidIssuerSerial, CrossCertificateOfTheSameKeyIsAccepted) {
  // Like Infineon's TPM 1.2 intermediates: the AKID names serial 3 of the
  // issuer, but only a certificate with another serial (same name, same
  // key, same SKID) is available.
  TestPki pki;
  CertSpec spec = CaSpec("Test TPM EK Intermediate", 30);
  spec.akid_issuer_serial = 3;
  const TestCert intermediate = IssueCertificate(spec, &pki.issuer);
  const TestCert ek = IssueCertificate(EkSpec(), &intermediate, SharedKey("rsa2048"));
  CertChainVerifier v = Make(Certs({pki.root.cert.get()}),
                             Certs({pki.issuer.cert.get(), intermediate.cert.get()}));
  const absl::Status status = v.Verify(ek.cert.get(), time(nullptr)).status();
  EXPECT_TRUE(status.ok()) << status;
}

TEST(AkidIssuerSerial, MatchingKeyIdWithoutTheKeyIsDenied) {
  // An impostor CA copies the real one's name and subjectKeyIdentifier but
  // not its key: the relaxation must not accept it.
  TestPki pki;
  CertSpec impostor_spec = CaSpec("Test TPM EK Issuing CA", 2);
  const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(pki.issuer.cert.get());
  impostor_spec.subject_key_id = Bytes(skid->data, skid->data + skid->length);
  const TestCert impostor = IssueCertificate(impostor_spec);
  CertSpec spec = CaSpec("Test TPM EK Intermediate", 30);
  spec.akid_issuer_serial = 3;
  const TestCert intermediate = IssueCertificate(spec, &pki.issuer);
  const TestCert ek = IssueCertificate(EkSpec(), &intermediate, SharedKey("rsa2048"));
  CertChainVerifier v = Make(Certs({impostor.cert.get()}), Certs({intermediate.cert.get()}));
  EXPECT_DENIED(v.Verify(ek.cert.get(), time(nullptr)).status(), "does not chain to any");
}

TEST(AkidIssuerSerial, IssuerThatMayNotSignCertificatesIsDenied) {
  // The AKID names serial 3 of an issuer whose available certificate has
  // the right name, key and SKID, but no keyCertSign.
  TestPki pki;
  CertSpec no_sign = CaSpec("No certSign CA", 31);
  no_sign.key_usage = "critical,digitalSignature";
  const TestCert issuer = IssueCertificate(no_sign, &pki.issuer);
  CertSpec spec = CaSpec("Test TPM EK Intermediate", 32);
  spec.akid_issuer_serial = 3;
  const TestCert intermediate = IssueCertificate(spec, &issuer);
  ASSERT_EQ(X509_check_issued(issuer.cert.get(), intermediate.cert.get()),
            X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH);
  const TestCert ek = IssueCertificate(EkSpec(), &intermediate, SharedKey("rsa2048"));
  CertChainVerifier v = Make(Certs({pki.issuer.cert.get()}),
                             Certs({issuer.cert.get(), intermediate.cert.get()}));
  EXPECT_DENIED(v.Verify(ek.cert.get(), time(nullptr)).status(), "does not chain to any");
}

TEST(AkidIssuerSerial, RealInfineonChainNeedsTheRelaxation) {
  // Sanity check of the corpus fact the relaxation exists for.
  X509Ptr intermediate = LoadEkCert("infineon-intermediate-rsa-tpm12-ekca08.pem");
  X509Ptr cross = LoadEkCert("infineon-intermediate-rsa-tpm12-ekroot-by-verisign.pem");
  EXPECT_EQ(X509_check_issued(cross.get(), intermediate.get()),
            X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH);
}

}  // namespace
}  // namespace tpmjoin::verifier
