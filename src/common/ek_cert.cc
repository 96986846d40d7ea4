#include "src/common/ek_cert.h"

#include <openssl/objects.h>
#include <openssl/pem.h>

#include <algorithm>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/common/der.h"
#include "src/common/errors.h"
#include "src/common/hex.h"

namespace tpmjoin {
namespace {

// TCG PC Client stored certificate header: TPM_TAG_PCCLIENT_STORED_CERT
// (0x1001), certType 0 (full), size (2 bytes), TPM_TAG_PCCLIENT_FULL_CERT
// (0x1002), then the DER.
constexpr uint8_t kTcgHeader[] = {0x10, 0x01, 0x00};
constexpr size_t kTcgHeaderSize = 7;

// 7 when `data` starts with a TCG PC Client stored-certificate header.
size_t TcgHeaderSize(ByteSpan data) {
  return data.size() >= kTcgHeaderSize && std::equal(kTcgHeader, kTcgHeader + 3, data.begin()) &&
                 data[5] == 0x10 && data[6] == 0x02
             ? kTcgHeaderSize
             : 0;
}

std::string Asn1StringToUtf8(const ASN1_STRING* s) {
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, s);
  if (len < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), len);
  OPENSSL_free(utf8);
  return out;
}

}  // namespace

absl::StatusOr<Bytes> ExtractCertificateDer(ByteSpan data) {
  ClearOpensslErrors();
  const absl::string_view text = AsStringView(data);
  if (text.find("-----BEGIN") != absl::string_view::npos) {
    BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    if (!bio) return OpensslError("BIO_new_mem_buf");
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      return OpensslError(AbiCode::kInvalidArgument, "no PEM CERTIFICATE block could be read");
    }
    return CertificateDer(cert.get());
  }
  ByteSpan padding;  // raw NV contents: whatever follows the DER is dropped
  return DerInNvContents(data, &padding);
}

size_t NvCertificateSize(ByteSpan prefix) {
  const size_t header = TcgHeaderSize(prefix);
  const ByteSpan der = prefix.subspan(header);
  const size_t len = !der.empty() && der[0] == der::kSequence ? der::ElementLength(der) : 0;
  return len == 0 ? 0 : header + len;
}

absl::StatusOr<Bytes> DerInNvContents(ByteSpan data, ByteSpan* padding) {
  const ByteSpan der = data.subspan(TcgHeaderSize(data));
  if (der.empty() || der[0] != 0x30) {
    return InvalidArgumentError("not a DER certificate (no SEQUENCE at its start)");
  }
  const size_t len = der::ElementLength(der);
  if (len == 0 || len > der.size()) {
    return InvalidArgumentError("truncated DER certificate");
  }
  *padding = der.subspan(len);
  return Bytes(der.begin(), der.begin() + len);
}

absl::StatusOr<Bytes> StrictNvCertificateDer(ByteSpan data) {
  ByteSpan padding;
  TPMJOIN_ASSIGN_OR_RETURN(Bytes der, DerInNvContents(data, &padding));
  // NV indices are often larger than the certificate; makers fill the rest
  // with 0xFF (erased flash) or 0x00. Anything else is not padding.
  const bool is_padding =
      std::all_of(padding.begin(), padding.end(), [&](uint8_t b) { return b == padding[0]; }) &&
      (padding.empty() || padding[0] == 0x00 || padding[0] == 0xff);
  if (!is_padding) {
    return InvalidArgumentError(absl::StrCat(
        padding.size(), " bytes after the DER certificate that are not padding (all 0x00 or "
                        "all 0xFF)"));
  }
  return der;
}

absl::StatusOr<X509Ptr> ParseCertificateDer(ByteSpan der) {
  ClearOpensslErrors();
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return OpensslError(AbiCode::kInvalidArgument, "not an X.509 certificate");
  if (p != der.data() + der.size()) {
    return InvalidArgumentError("trailing bytes after the DER certificate");
  }
  return cert;
}

absl::StatusOr<Bytes> CertificatePkixDer(ByteSpan der) {
  TPMJOIN_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificateDer(der));
  TPMJOIN_ASSIGN_OR_RETURN(EvpPkeyPtr key, CertificatePublicKey(cert.get()));
  return PkixDer(key.get());
}

absl::StatusOr<Bytes> CertificateDer(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) return OpensslError("i2d_X509");
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

absl::StatusOr<EvpPkeyPtr> CertificatePublicKey(X509* cert) {
  ClearOpensslErrors();
  X509_PUBKEY* spki = X509_get_X509_PUBKEY(cert);
  if (spki == nullptr) return InvalidArgumentError("certificate has no public key");
  ASN1_OBJECT* alg = nullptr;
  const unsigned char* key_bytes = nullptr;
  int key_len = 0;
  if (X509_PUBKEY_get0_param(&alg, &key_bytes, &key_len, nullptr, spki) != 1) {
    return OpensslError(AbiCode::kInvalidArgument, "unreadable SubjectPublicKeyInfo");
  }
  if (OBJ_obj2nid(alg) == NID_rsaesOaep) {
    // TPM 1.2 EK certificates: the key is a plain RSAPublicKey, labelled
    // id-RSAES-OAEP with TCPA parameters that OpenSSL does not decode.
    auto key = RsaPublicKeyFromPkcs1(ByteSpan(key_bytes, key_len < 0 ? 0 : key_len));
    if (!key.ok()) {
      return InvalidArgumentError(
          absl::StrCat("unreadable id-RSAES-OAEP public key: ", key.status().message()));
    }
    return key;
  }
  EvpPkeyPtr key(X509_get_pubkey(cert));
  if (!key) return OpensslError(AbiCode::kInvalidArgument, "unsupported certificate public key");
  return key;
}

Bytes CertificateSerialBytes(X509* cert) {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) return {};
  Bytes bytes(BN_num_bytes(bn.get()));
  BN_bn2bin(bn.get(), bytes.data());
  if (bytes.empty()) bytes.push_back(0);
  return bytes;
}

std::string CertificateSerial(X509* cert) { return ColonHex(CertificateSerialBytes(cert)); }

TcgDeviceInfo CertificateTcgDeviceInfo(X509* cert) {
  TcgDeviceInfo info;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  ClearOpensslErrors();
  if (!names) return info;
  Asn1ObjectPtr manufacturer(OBJ_txt2obj("2.23.133.2.1", 1));
  Asn1ObjectPtr model(OBJ_txt2obj("2.23.133.2.2", 1));
  Asn1ObjectPtr version(OBJ_txt2obj("2.23.133.2.3", 1));
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_DIRNAME) continue;
    X509_NAME* dir = gn->d.directoryName;
    for (int j = 0; j < X509_NAME_entry_count(dir); ++j) {
      X509_NAME_ENTRY* entry = X509_NAME_get_entry(dir, j);
      const ASN1_OBJECT* obj = X509_NAME_ENTRY_get_object(entry);
      const std::string value = Asn1StringToUtf8(X509_NAME_ENTRY_get_data(entry));
      if (OBJ_cmp(obj, manufacturer.get()) == 0) info.manufacturer = value;
      if (OBJ_cmp(obj, model.get()) == 0) info.model = value;
      if (OBJ_cmp(obj, version.get()) == 0) info.version = value;
    }
  }
  return info;
}

std::string NameToString(X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "";
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

std::string TimeToString(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return "";
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace tpmjoin
