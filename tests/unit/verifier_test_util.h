// Test helpers for the verifier's unit tests (header-only: the unit test
// glob compiles *_test.cc files only). They build in software what a TPM
// and a TPM maker would produce:
//  - SoftwareAk: an "AK" whose TPMT_PUBLIC, TPMS_CREATION_DATA, TPMS_ATTEST
//    and TPMT_SIGNATURE are consistent (name, creationHash, signature), with
//    hooks to tamper with any of them;
//  - IssueCertificate: CA and EK certificates shaped like real ones (empty
//    subject, critical TCG subjectAltName, EKU 2.23.133.8.1);
//  - ActivateCredentialInSoftware: TPM2_ActivateCredential's math with the
//    EK's private key, to open what MakeCredential made.
#ifndef TPMJOIN_TESTS_UNIT_VERIFIER_TEST_UTIL_H_
#define TPMJOIN_TESTS_UNIT_VERIFIER_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "abi/tpmjoin.pb.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "src/common/digest.h"
#include "src/common/ek_cert.h"
#include "src/common/errors.h"
#include "src/common/hex.h"
#include "src/common/keys.h"
#include "src/common/ossl.h"
#include "src/common/tpm_mu.h"
#include "src/verifier/ek_profile.h"
#include "src/verifier/kdf.h"

namespace tpmjoin::verifier::testing {

// --- Files ------------------------------------------------------------------

inline std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline std::string VerifierTestdata(const std::string& name) {
  return ReadFileOrDie(absl::StrCat(TPMJOIN_TESTDATA_DIR, "/verifier/", name));
}

inline std::string EkCertsDir() {
  return absl::StrCat(TPMJOIN_SHARED_TESTDATA_DIR, "/ek-certs");
}

inline std::string EkCertFile(const std::string& name) {
  return ReadFileOrDie(absl::StrCat(EkCertsDir(), "/", name));
}

inline nlohmann::json VerifierTestdataJson(const std::string& name) {
  nlohmann::json json =
      nlohmann::json::parse(VerifierTestdata(name), nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(json.is_discarded()) << name;
  return json;
}

inline Bytes Hex(const std::string& text) {
  std::optional<Bytes> bytes = HexDecode(text);
  EXPECT_TRUE(bytes.has_value()) << text;
  return bytes.value_or(Bytes{});
}

// --- The shared EK certificate corpus (../shared/testdata/ek-certs) ----------

inline X509Ptr LoadCertificate(const std::string& pem_or_der) {
  absl::StatusOr<Bytes> der = ExtractCertificateDer(AsSpan(pem_or_der));
  EXPECT_TRUE(der.ok()) << der.status();
  absl::StatusOr<X509Ptr> cert = ParseCertificateDer(der.value_or(Bytes{}));
  EXPECT_TRUE(cert.ok()) << cert.status();
  return cert.ok() ? std::move(cert).value() : nullptr;
}

inline X509Ptr LoadEkCert(const std::string& name) { return LoadCertificate(EkCertFile(name)); }

// One "$ openssl verify -CAfile A -untrusted I... LEAF" line of MANIFEST.md.
struct ManifestChain {
  std::string leaf;
  std::string anchor;
  std::vector<std::string> intermediates;
};

inline std::vector<ManifestChain> ManifestChains() {
  std::vector<ManifestChain> chains;
  std::istringstream manifest(EkCertFile("MANIFEST.md"));
  for (std::string line; std::getline(manifest, line);) {
    if (line.rfind("$ openssl verify ", 0) != 0) continue;
    std::istringstream words(line.substr(17));
    ManifestChain chain;
    for (std::string word; words >> word;) {
      if (word == "-CAfile") {
        words >> chain.anchor;
      } else if (word == "-untrusted") {
        words >> word;
        chain.intermediates.push_back(word);
      } else {
        chain.leaf = word;
      }
    }
    chains.push_back(chain);
  }
  return chains;
}

// The rows of MANIFEST.md's file table: file -> cells.
inline std::map<std::string, std::vector<std::string>> ManifestTable(
    const std::string& header_prefix) {
  std::map<std::string, std::vector<std::string>> rows;
  std::istringstream manifest(EkCertFile("MANIFEST.md"));
  bool in_table = false;
  for (std::string line; std::getline(manifest, line);) {
    if (line.rfind(header_prefix, 0) == 0) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    if (line.empty() || line[0] != '|') {
      in_table = false;
      continue;
    }
    std::vector<std::string> cells;
    std::istringstream parts(line.substr(1));
    for (std::string cell; std::getline(parts, cell, '|');) {
      const size_t b = cell.find_first_not_of(' ');
      const size_t e = cell.find_last_not_of(' ');
      cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
    }
    if (cells.empty() || cells[0].rfind("`", 0) != 0) continue;  // the |---| line
    const size_t end = cells[0].find('`', 1);
    rows[cells[0].substr(1, end - 1)] = cells;
  }
  return rows;
}

// A time at which every certificate in `certs` is valid.
inline time_t TimeInsideValidity(const std::vector<X509*>& certs) {
  time_t latest_start = 0;
  for (X509* cert : certs) {
    struct tm tm = {};
    EXPECT_EQ(ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm), 1);
    latest_start = std::max(latest_start, timegm(&tm));
  }
  return latest_start + 24 * 3600;
}

// --- Keys -------------------------------------------------------------------

inline EvpPkeyPtr PrivateKeyFromPem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_NE(key, nullptr);
  return key;
}

inline EvpPkeyPtr GenerateKey(const std::string& key_type) {
  EVP_PKEY* key = nullptr;
  if (key_type.rfind("rsa", 0) == 0) {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA",
                            static_cast<size_t>(std::stoi(key_type.substr(3))));
  } else if (key_type == "ecc-p256") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "prime256v1");
  } else if (key_type == "ecc-p384") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp384r1");
  } else if (key_type == "ecc-p521") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp521r1");
  } else if (key_type == "ecc-p224") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp224r1");
  } else if (key_type == "ed25519") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  }
  EXPECT_NE(key, nullptr) << key_type;
  return EvpPkeyPtr(key);
}

// One key per type per test binary (RSA key generation is slow). The key is
// shared: take a reference with EVP_PKEY_up_ref to keep it.
inline EVP_PKEY* CachedKey(const std::string& key_type) {
  static std::mutex mu;
  static auto* keys = new std::map<std::string, EvpPkeyPtr>();
  std::lock_guard<std::mutex> lock(mu);
  EvpPkeyPtr& key = (*keys)[key_type];
  if (!key) key = GenerateKey(key_type);
  return key.get();
}

inline EvpPkeyPtr SharedKey(const std::string& key_type) {
  EVP_PKEY* key = CachedKey(key_type);
  EVP_PKEY_up_ref(key);
  return EvpPkeyPtr(key);
}

inline Bytes BigNumParam(EVP_PKEY* key, const char* name, size_t size) {
  BIGNUM* raw = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &raw), 1) << name;
  BignumPtr bn(raw);
  Bytes out(size);
  EXPECT_GE(BN_bn2binpad(bn.get(), out.data(), static_cast<int>(size)), 0);
  return out;
}

inline size_t FieldBytes(EVP_PKEY* key) {
  return static_cast<size_t>((EVP_PKEY_get_bits(key) + 7) / 8);
}

inline Bytes PkixOf(EVP_PKEY* key) {
  absl::StatusOr<Bytes> der = PkixDer(key);
  EXPECT_TRUE(der.ok()) << der.status();
  return der.value_or(Bytes{});
}

inline std::string PubHashOf(EVP_PKEY* key) {
  return HexEncode(Digest(EVP_sha256(), {PkixOf(key)}).value());
}

// --- Software AK --------------------------------------------------------------

// attestation_params as the agent sends them.
struct AkParams {
  std::string public_area;
  std::string create_data;
  std::string create_attestation;
  std::string create_signature;

  void CopyTo(v1::TPMAttestationParameters* out) const {
    out->set_public_(public_area);
    out->set_create_data(create_data);
    out->set_create_attestation(create_attestation);
    out->set_create_signature(create_signature);
  }
};

template <typename T>
std::string MarshalToString(const T& value) {
  absl::StatusOr<Bytes> bytes = Marshal(value);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return std::string(AsStringView(bytes.value_or(Bytes{})));
}

template <typename TPM2B>
void SetTpm2b(ByteSpan data, TPM2B* out) {
  ASSERT_TRUE(ToTpm2b(data, out));
}

inline void SetName(ByteSpan data, TPM2B_NAME* out) {
  ASSERT_LE(data.size(), sizeof(out->name));
  out->size = static_cast<UINT16>(data.size());
  std::copy(data.begin(), data.end(), out->name);
}

// TPMT_SIGNATURE of `data` by `key` (RSASSA-PKCS1-v1_5 or ECDSA).
inline TPMT_SIGNATURE SignLikeTpm(EVP_PKEY* key, TPM2_ALG_ID hash, ByteSpan data) {
  TPMT_SIGNATURE sig{};
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EvpMdForTpmAlg(hash), nullptr, key), 1);
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()), 1);
  Bytes raw(len);
  EXPECT_EQ(EVP_DigestSign(ctx.get(), raw.data(), &len, data.data(), data.size()), 1);
  raw.resize(len);
  if (EVP_PKEY_is_a(key, "RSA")) {
    sig.sigAlg = TPM2_ALG_RSASSA;
    sig.signature.rsassa.hash = hash;
    SetTpm2b(raw, &sig.signature.rsassa.sig);
    return sig;
  }
  sig.sigAlg = TPM2_ALG_ECDSA;
  sig.signature.ecdsa.hash = hash;
  const unsigned char* p = raw.data();
  EcdsaSigPtr ecdsa(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(raw.size())));
  EXPECT_NE(ecdsa, nullptr);
  const size_t field = FieldBytes(key);
  Bytes r(field), s(field);
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), r.data(), static_cast<int>(field));
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), s.data(), static_cast<int>(field));
  SetTpm2b(r, &sig.signature.ecdsa.signatureR);
  SetTpm2b(s, &sig.signature.ecdsa.signatureS);
  return sig;
}

// The TPMT_PUBLIC a TPM would make for an AK with this key.
inline TPMT_PUBLIC AkPublicFor(EVP_PKEY* key, TPM2_ALG_ID hash) {
  TPMT_PUBLIC pub{};
  pub.nameAlg = TPM2_ALG_SHA256;
  pub.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                         TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                         TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  if (EVP_PKEY_is_a(key, "RSA")) {
    pub.type = TPM2_ALG_RSA;
    TPMS_RSA_PARMS& rsa = pub.parameters.rsaDetail;
    rsa.symmetric.algorithm = TPM2_ALG_NULL;
    rsa.scheme.scheme = TPM2_ALG_RSASSA;
    rsa.scheme.details.rsassa.hashAlg = hash;
    rsa.keyBits = static_cast<TPMI_RSA_KEY_BITS>(EVP_PKEY_get_bits(key));
    rsa.exponent = 0;
    SetTpm2b(BigNumParam(key, OSSL_PKEY_PARAM_RSA_N, rsa.keyBits / 8), &pub.unique.rsa);
    return pub;
  }
  pub.type = TPM2_ALG_ECC;
  TPMS_ECC_PARMS& ecc = pub.parameters.eccDetail;
  ecc.symmetric.algorithm = TPM2_ALG_NULL;
  ecc.scheme.scheme = TPM2_ALG_ECDSA;
  ecc.scheme.details.ecdsa.hashAlg = hash;
  ecc.kdf.scheme = TPM2_ALG_NULL;
  const int bits = EVP_PKEY_get_bits(key);
  ecc.curveID = bits == 256   ? TPM2_ECC_NIST_P256
                : bits == 384 ? TPM2_ECC_NIST_P384
                : bits == 521 ? TPM2_ECC_NIST_P521
                              : TPM2_ECC_NIST_P224;
  SetTpm2b(BigNumParam(key, OSSL_PKEY_PARAM_EC_PUB_X, FieldBytes(key)), &pub.unique.ecc.x);
  SetTpm2b(BigNumParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, FieldBytes(key)), &pub.unique.ecc.y);
  return pub;
}

// Ways to tamper with what SoftwareAk::Build makes.
struct AkHooks {
  // Runs on the TPMS_ATTEST after name and creationHash are set, before
  // signing.
  std::function<void(TPMS_ATTEST&)> attest;
  // Runs on the TPMT_SIGNATURE after signing.
  std::function<void(TPMT_SIGNATURE&)> signature;
  // Signs with this key instead of the AK's.
  EVP_PKEY* signer = nullptr;
};

// An AK made in software. Tests edit `pub` or `creation` before Build() to
// make a consistent attestation of a bad key, or tamper with the attestation
// or signature through Build's hooks.
class SoftwareAk {
 public:
  // key_type as GenerateKey; hash of the signing scheme.
  explicit SoftwareAk(const std::string& key_type = "rsa2048",
                      TPM2_ALG_ID hash = TPM2_ALG_SHA256)
      : key(SharedKey(key_type)), pub(AkPublicFor(key.get(), hash)) {
    creation.locality = TPMA_LOCALITY_TPM2_LOC_ZERO;
    creation.parentNameAlg = TPM2_ALG_NULL;
    const uint8_t owner[] = {0x40, 0x00, 0x00, 0x01};  // TPM_RH_OWNER
    SetName(owner, &creation.parentName);
    SetName(owner, &creation.parentQualifiedName);
  }

  using Hooks = AkHooks;

  AkParams Build(const Hooks& hooks = {}) const {
    AkParams out;
    out.public_area = MarshalToString(pub);
    out.create_data = MarshalToString(creation);
    const EVP_MD* md = EvpMdForTpmAlg(pub.nameAlg) ? EvpMdForTpmAlg(pub.nameAlg) : EVP_sha256();
    const Bytes digest = Digest(md, {AsSpan(out.public_area)}).value();
    Bytes name = {static_cast<uint8_t>(pub.nameAlg >> 8), static_cast<uint8_t>(pub.nameAlg)};
    name.insert(name.end(), digest.begin(), digest.end());

    TPMS_ATTEST attest{};
    attest.magic = TPM2_GENERATED_VALUE;
    attest.type = TPM2_ST_ATTEST_CREATION;
    SetName(name, &attest.qualifiedSigner);
    attest.clockInfo.clock = 123456;
    attest.clockInfo.safe = 1;
    attest.firmwareVersion = 0x2019102300163636ULL;
    SetName(name, &attest.attested.creation.objectName);
    SetTpm2b(Digest(md, {AsSpan(out.create_data)}).value(),
             &attest.attested.creation.creationHash);
    if (hooks.attest) hooks.attest(attest);
    out.create_attestation = MarshalToString(attest);

    TPM2_ALG_ID hash = pub.type == TPM2_ALG_RSA
                           ? pub.parameters.rsaDetail.scheme.details.rsassa.hashAlg
                           : pub.parameters.eccDetail.scheme.details.ecdsa.hashAlg;
    if (EvpMdForTpmAlg(hash) == nullptr) hash = TPM2_ALG_SHA256;
    TPMT_SIGNATURE sig = SignLikeTpm(hooks.signer ? hooks.signer : key.get(), hash,
                                     AsSpan(out.create_attestation));
    if (hooks.signature) hooks.signature(sig);
    out.create_signature = MarshalToString(sig);
    return out;
  }

  Bytes Name() const {
    return ObjectName(pub).value();
  }

  EvpPkeyPtr key;
  TPMT_PUBLIC pub;
  TPMS_CREATION_DATA creation{};
};

// --- Certificates -----------------------------------------------------------

struct CertSpec {
  std::string subject_cn;  // "" gives an empty subject, as on EK certificates
  long serial = 1;
  bool is_ca = false;
  time_t not_before = time(nullptr) - 3600;
  time_t not_after = time(nullptr) + 365L * 24 * 3600;
  bool tcg_san = false;       // critical SAN with TCG directory attributes
  bool ek_eku = false;        // EKU 2.23.133.8.1
  std::optional<long> path_length;
  // Overrides: the subjectKeyIdentifier, and an AKID that also names the
  // issuer's issuer and serial (authorityCertIssuer/SerialNumber).
  std::optional<Bytes> subject_key_id;
  std::optional<long> akid_issuer_serial;
  // An id-RSAES-OAEP SubjectPublicKeyInfo, as on TPM 1.2 EK certificates
  // (OpenSSL cannot decode it; the key must be RSA).
  bool rsaes_oaep_spki = false;
  // A critical extension nobody understands.
  bool unknown_critical_extension = false;
  // keyUsage value instead of the default for is_ca.
  std::string key_usage;
  // No basicConstraints extension at all (X509_check_ca: 4 with keyCertSign).
  bool no_basic_constraints = false;
};

struct TestCert {
  X509Ptr cert;
  EvpPkeyPtr key;

  std::string Pem() const {
    BioPtr bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), cert.get());
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, len);
  }
  std::string Der() const {
    return std::string(AsStringView(CertificateDer(cert.get()).value()));
  }
};

inline void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr) << value;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

inline void AddTcgSubjectAltName(X509* cert) {
  X509_NAME* dir = X509_NAME_new();
  for (const auto& [oid, value] : std::vector<std::pair<const char*, const char*>>{
           {"2.23.133.2.1", "id:54455354"}, {"2.23.133.2.2", "SoftTPM"},
           {"2.23.133.2.3", "id:00010002"}}) {
    Asn1ObjectPtr obj(OBJ_txt2obj(oid, 1));
    X509_NAME_add_entry_by_OBJ(dir, obj.get(), MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value), -1, -1, 0);
  }
  GENERAL_NAME* name = GENERAL_NAME_new();
  name->type = GEN_DIRNAME;
  name->d.directoryName = dir;
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  sk_GENERAL_NAME_push(names.get(), name);
  X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), /*crit=*/1, X509V3_ADD_DEFAULT);
}

inline void AddAkidWithIssuerSerial(X509* cert, X509* issuer, long serial) {
  AUTHORITY_KEYID* akid = AUTHORITY_KEYID_new();
  akid->keyid = ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(issuer));
  GENERAL_NAME* name = GENERAL_NAME_new();
  name->type = GEN_DIRNAME;
  name->d.directoryName = X509_NAME_dup(X509_get_issuer_name(issuer));
  akid->issuer = sk_GENERAL_NAME_new_null();
  sk_GENERAL_NAME_push(akid->issuer, name);
  akid->serial = ASN1_INTEGER_new();
  ASN1_INTEGER_set(akid->serial, serial);
  X509_add1_ext_i2d(cert, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT);
  AUTHORITY_KEYID_free(akid);
}

// Issues a certificate for `key` (a fresh P-256 key when null) signed by
// `issuer` (self-signed when null).
inline TestCert IssueCertificate(const CertSpec& spec, const TestCert* issuer = nullptr,
                                 EvpPkeyPtr key = nullptr) {
  TestCert out;
  out.key = key ? std::move(key) : GenerateKey("ecc-p256");
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), spec.serial);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (!spec.subject_cn.empty()) {
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(spec.subject_cn.c_str()),
                               -1, -1, 0);
  }
  X509* issuer_cert = issuer ? issuer->cert.get() : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert));
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), spec.not_before);
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), spec.not_after);
  X509_set_pubkey(cert.get(), out.key.get());
  if (spec.rsaes_oaep_spki) {
    unsigned char* der = nullptr;
    const int len = i2d_PublicKey(out.key.get(), &der);
    EXPECT_GT(len, 0);
    X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert.get()), OBJ_nid2obj(NID_rsaesOaep),
                           V_ASN1_UNDEF, nullptr, der, len);
  }
  if (spec.unknown_critical_extension) {
    Asn1ObjectPtr oid(OBJ_txt2obj("1.3.6.1.4.1.55555.1", 1));
    ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(value, reinterpret_cast<const unsigned char*>("\x05\x00"), 2);
    X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 1, value);
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(value);
  }
  if (spec.no_basic_constraints) {
    // nothing
  } else if (spec.is_ca) {
    const std::string bc = spec.path_length
                               ? absl::StrCat("critical,CA:TRUE,pathlen:", *spec.path_length)
                               : "critical,CA:TRUE";
    AddExtension(cert.get(), issuer_cert, NID_basic_constraints, bc.c_str());
  } else {
    AddExtension(cert.get(), issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
  }
  const std::string key_usage = !spec.key_usage.empty() ? spec.key_usage
                                : spec.is_ca           ? "critical,keyCertSign,cRLSign"
                                                       : "critical,keyEncipherment";
  AddExtension(cert.get(), issuer_cert, NID_key_usage, key_usage.c_str());
  if (spec.subject_key_id) {
    ASN1_OCTET_STRING* skid = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(skid, spec.subject_key_id->data(),
                          static_cast<int>(spec.subject_key_id->size()));
    X509_add1_ext_i2d(cert.get(), NID_subject_key_identifier, skid, 0, X509V3_ADD_DEFAULT);
    ASN1_OCTET_STRING_free(skid);
  } else {
    AddExtension(cert.get(), issuer_cert, NID_subject_key_identifier, "hash");
  }
  if (issuer != nullptr) {
    if (spec.akid_issuer_serial) {
      AddAkidWithIssuerSerial(cert.get(), issuer_cert, *spec.akid_issuer_serial);
    } else {
      AddExtension(cert.get(), issuer_cert, NID_authority_key_identifier, "keyid:always");
    }
  }
  if (spec.ek_eku) AddExtension(cert.get(), issuer_cert, NID_ext_key_usage, "2.23.133.8.1");
  if (spec.tcg_san) AddTcgSubjectAltName(cert.get());
  EVP_PKEY* signer = issuer ? issuer->key.get() : out.key.get();
  EXPECT_GT(X509_sign(cert.get(), signer, EVP_sha256()), 0);
  // Through DER, so that nothing cached in memory (such as the decoded
  // public key) survives.
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert.get(), &der);
  const unsigned char* p = der;
  out.cert.reset(d2i_X509(nullptr, &p, len));
  OPENSSL_free(der);
  EXPECT_NE(out.cert, nullptr);
  return out;
}

inline CertSpec CaSpec(const std::string& cn, long serial = 1) {
  CertSpec spec;
  spec.subject_cn = cn;
  spec.serial = serial;
  spec.is_ca = true;
  return spec;
}

inline CertSpec EkSpec(long serial = 0x1337) {
  CertSpec spec;
  spec.serial = serial;
  spec.tcg_san = true;
  spec.ek_eku = true;
  return spec;
}

// A two-level CA (root -> issuing CA) like swtpm-localca's, and EK
// certificates it issues.
struct TestPki {
  TestCert root = IssueCertificate(CaSpec("Test TPM Root CA"));
  TestCert issuer = IssueCertificate(CaSpec("Test TPM EK Issuing CA", 2), &root);

  TestCert IssueEk(EvpPkeyPtr ek, const CertSpec& spec = EkSpec()) const {
    return IssueCertificate(spec, &issuer, std::move(ek));
  }
};

// --- Requests ---------------------------------------------------------------

inline std::string SerializeOrDie(const google::protobuf::MessageLite& message) {
  std::string out;
  EXPECT_TRUE(message.SerializeToString(&out));
  return out;
}

inline v1::RegisterUsingTPMMethodRequest InitRequest(const AkParams& ak,
                                                     const std::string& join_request = "join") {
  v1::RegisterUsingTPMMethodRequest request;
  v1::RegisterUsingTPMMethodInitialRequest* init = request.mutable_init();
  init->set_join_request(join_request);
  ak.CopyTo(init->mutable_attestation_params());
  return request;
}

inline std::string InitWithCert(const AkParams& ak, const std::string& ek_cert_der,
                                const std::string& join_request = "join") {
  v1::RegisterUsingTPMMethodRequest request = InitRequest(ak, join_request);
  request.mutable_init()->set_ek_cert(ek_cert_der);
  return SerializeOrDie(request);
}

inline std::string InitWithKey(const AkParams& ak, EVP_PKEY* ek,
                               const std::string& join_request = "join") {
  v1::RegisterUsingTPMMethodRequest request = InitRequest(ak, join_request);
  request.mutable_init()->set_ek_key(std::string(AsStringView(PkixOf(ek))));
  return SerializeOrDie(request);
}

inline std::string Answer(ByteSpan solution) {
  v1::RegisterUsingTPMMethodRequest request;
  request.mutable_challenge_response()->set_solution(std::string(AsStringView(solution)));
  return SerializeOrDie(request);
}

// --- ActivateCredential in software -----------------------------------------

inline absl::StatusOr<ByteSpan> Tpm2bContent(ByteSpan tpm2b) {
  if (tpm2b.size() < 2) return InternalError("TPM2B shorter than its size");
  const size_t size = static_cast<size_t>(tpm2b[0]) << 8 | tpm2b[1];
  if (size != tpm2b.size() - 2) return InternalError("TPM2B size does not match");
  return tpm2b.subspan(2);
}

inline TPM2_ECC_CURVE TpmCurveOf(EVP_PKEY* key) {
  switch (EVP_PKEY_get_bits(key)) {
    case 256:
      return TPM2_ECC_NIST_P256;
    case 384:
      return TPM2_ECC_NIST_P384;
    default:
      return TPM2_ECC_NIST_P521;
  }
}

// The seed, as the TPM recovers it from TPM2B_ENCRYPTED_SECRET's content
// with the EK's private key (TPM 2.0 Part 1, secret sharing).
inline absl::StatusOr<SecureBytes> RecoverSeed(EVP_PKEY* ek, const EkProfile& profile,
                                               ByteSpan encrypted_seed) {
  const EVP_MD* md = ProfileDigest(profile);
  if (EVP_PKEY_is_a(ek, "RSA")) {
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ek, nullptr));
    static const char kLabel[] = "IDENTITY";
    if (EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1 ||
        EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), OPENSSL_memdup(kLabel, sizeof(kLabel)),
                                         sizeof(kLabel)) != 1) {
      return OpensslError("OAEP setup");
    }
    size_t len = 0;
    if (EVP_PKEY_decrypt(ctx.get(), nullptr, &len, encrypted_seed.data(),
                         encrypted_seed.size()) != 1) {
      return OpensslError("OAEP decrypt (size)");
    }
    SecureBytes seed(len);
    if (EVP_PKEY_decrypt(ctx.get(), seed.data(), &len, encrypted_seed.data(),
                         encrypted_seed.size()) != 1) {
      return OpensslError("OAEP decrypt");
    }
    seed.resize(len);
    return seed;
  }
  TPMJOIN_ASSIGN_OR_RETURN(const TPMS_ECC_POINT point,
                           Unmarshal<TPMS_ECC_POINT>(encrypted_seed, "secret"));
  TPMT_PUBLIC peer_public{};
  peer_public.type = TPM2_ALG_ECC;
  peer_public.parameters.eccDetail.curveID = TpmCurveOf(ek);
  peer_public.unique.ecc = point;
  TPMJOIN_ASSIGN_OR_RETURN(EvpPkeyPtr peer, PublicKeyFromTpmt(peer_public));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ek, nullptr));
  size_t len = 0;
  if (EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1) {
    return OpensslError("ECDH");
  }
  SecureBytes z(len);
  if (EVP_PKEY_derive(ctx.get(), z.data(), &len) != 1) return OpensslError("ECDH");
  // The TPM hashes the ephemeral x as received and its own x as marshaled
  // (padded to the field size).
  const Bytes ek_x = BigNumParam(ek, OSSL_PKEY_PARAM_EC_PUB_X, FieldBytes(ek));
  return KDFe(md, z, "IDENTITY", ByteSpan(point.x.buffer, point.x.size), ek_x,
              static_cast<size_t>(EVP_MD_get_size(md)) * 8);
}

// Opens a credential_blob with a known seed (steps 2-5 reversed).
inline absl::StatusOr<SecureBytes> OpenCredential(const EkProfile& profile, ByteSpan seed,
                                                  ByteSpan ak_name, ByteSpan credential_blob) {
  const EVP_MD* md = ProfileDigest(profile);
  TPMJOIN_ASSIGN_OR_RETURN(const ByteSpan id_object, Tpm2bContent(credential_blob));
  if (id_object.size() < 2) return InternalError("short TPM2B_ID_OBJECT");
  const size_t hmac_size = static_cast<size_t>(id_object[0]) << 8 | id_object[1];
  if (id_object.size() < 2 + hmac_size) return InternalError("short integrity HMAC");
  const ByteSpan outer_hmac = id_object.subspan(2, hmac_size);
  const ByteSpan enc_identity = id_object.subspan(2 + hmac_size);

  TPMJOIN_ASSIGN_OR_RETURN(
      const SecureBytes hmac_key,
      KDFa(md, seed, "INTEGRITY", {}, {}, static_cast<size_t>(EVP_MD_get_size(md)) * 8));
  Bytes message(enc_identity.begin(), enc_identity.end());
  message.insert(message.end(), ak_name.begin(), ak_name.end());
  uint8_t expected[EVP_MAX_MD_SIZE];
  unsigned int expected_len = 0;
  HMAC(md, hmac_key.data(), static_cast<int>(hmac_key.size()), message.data(), message.size(),
       expected, &expected_len);
  if (!ConstantTimeEquals(outer_hmac, ByteSpan(expected, expected_len))) {
    return DeniedError("integrity HMAC mismatch (wrong EK or wrong AK name)");
  }
  TPMJOIN_ASSIGN_OR_RETURN(const SecureBytes sym_key,
                           KDFa(md, seed, "STORAGE", ak_name, {}, profile.aes_key_bits));
  const uint8_t iv[16] = {0};
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  SecureBytes plain(enc_identity.size() + 16);
  int len = 0, final_len = 0;
  if (EVP_DecryptInit_ex(ctx.get(), ProfileCipher(profile), nullptr, sym_key.data(), iv) != 1 ||
      EVP_DecryptUpdate(ctx.get(), plain.data(), &len, enc_identity.data(),
                        static_cast<int>(enc_identity.size())) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), plain.data() + len, &final_len) != 1) {
    return OpensslError("AES-CFB decrypt");
  }
  plain.resize(static_cast<size_t>(len + final_len));
  TPMJOIN_ASSIGN_OR_RETURN(const ByteSpan credential, Tpm2bContent(plain));
  return SecureBytes(credential.begin(), credential.end());
}

// TPM2_ActivateCredential's math with the EK's private key: recovers the
// seed from `secret`, checks the integrity HMAC, decrypts the credential.
inline absl::StatusOr<SecureBytes> ActivateCredentialInSoftware(EVP_PKEY* ek_private,
                                                                ByteSpan ak_name,
                                                                ByteSpan credential_blob,
                                                                ByteSpan secret) {
  TPMJOIN_ASSIGN_OR_RETURN(const EkProfile profile, EkProfileForKey(ek_private));
  TPMJOIN_ASSIGN_OR_RETURN(const ByteSpan encrypted_seed, Tpm2bContent(secret));
  TPMJOIN_ASSIGN_OR_RETURN(const SecureBytes seed, RecoverSeed(ek_private, profile, encrypted_seed));
  return OpenCredential(profile, seed, ak_name, credential_blob);
}

// --- Status matchers ----------------------------------------------------------

// EXPECT_THAT-free check: `status` has ABI code `code` and its message
// contains `text`.
inline ::testing::AssertionResult HasCode(const absl::Status& status, AbiCode code,
                                          absl::string_view text = "") {
  if (AbiCodeOf(status) != code) {
    return ::testing::AssertionFailure()
           << "ABI code " << static_cast<int>(AbiCodeOf(status)) << ", want "
           << static_cast<int>(code) << ": " << status;
  }
  if (status.message().find(text) == absl::string_view::npos) {
    return ::testing::AssertionFailure()
           << "message \"" << status.message() << "\" lacks \"" << text << "\"";
  }
  return ::testing::AssertionSuccess();
}

template <typename T>
::testing::AssertionResult HasCode(const absl::StatusOr<T>& result, AbiCode code,
                                   absl::string_view text = "") {
  return HasCode(result.status(), code, text);
}

#define TPMJOIN_EXPECT_CODE_(expr, code, text) \
  EXPECT_TRUE(::tpmjoin::verifier::testing::HasCode((expr), ::tpmjoin::AbiCode::code, (text)))
#define EXPECT_DENIED(expr, text) TPMJOIN_EXPECT_CODE_(expr, kDenied, text)
#define EXPECT_BAD_MESSAGE(expr, text) TPMJOIN_EXPECT_CODE_(expr, kBadMessage, text)
#define EXPECT_INVALID_ARGUMENT(expr, text) TPMJOIN_EXPECT_CODE_(expr, kInvalidArgument, text)
#define EXPECT_STATE(expr, text) TPMJOIN_EXPECT_CODE_(expr, kState, text)

}  // namespace tpmjoin::verifier::testing

#endif  // TPMJOIN_TESTS_UNIT_VERIFIER_TEST_UTIL_H_
