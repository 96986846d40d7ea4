// EK certificates as TPM makers issue them: DER, PEM, or raw TPM NV contents
// (DER followed by padding, or behind a TCG PC Client header); empty subject
// with a critical subjectAltName of TCG directory attributes; on TPM 1.2
// era certificates an id-RSAES-OAEP SubjectPublicKeyInfo OpenSSL cannot
// decode.
#ifndef TPMJOIN_SRC_COMMON_EK_CERT_H_
#define TPMJOIN_SRC_COMMON_EK_CERT_H_

#include <string>

#include "absl/status/statusor.h"
#include "src/common/bytes.h"
#include "src/common/keys.h"
#include "src/common/ossl.h"

namespace tpmjoin {

// Returns the DER certificate inside `data`: the bytes themselves, the
// first PEM "CERTIFICATE" block, or the DER found in raw NV contents (TCG
// header skipped, padding after the DER dropped). INVALID_ARGUMENT when no
// certificate is found.
absl::StatusOr<Bytes> ExtractCertificateDer(ByteSpan data);

// Size (TCG header included) of the certificate at the start of raw TPM NV
// contents, from its first bytes (the header and the DER length); 0 when
// they do not start like a certificate.
size_t NvCertificateSize(ByteSpan prefix);

// The DER certificate in raw TPM NV contents: optionally behind a TCG PC
// Client header; `*padding` is set to whatever follows the DER.
absl::StatusOr<Bytes> DerInNvContents(ByteSpan data, ByteSpan* padding);

// As the verifier takes ek_cert off the wire: DER, or raw NV contents whose
// bytes after the DER are padding only (all 0x00 or all 0xFF). No PEM, no
// other trailing bytes. INVALID_ARGUMENT otherwise.
absl::StatusOr<Bytes> StrictNvCertificateDer(ByteSpan data);

// Parses exactly one DER certificate (no trailing bytes).
absl::StatusOr<X509Ptr> ParseCertificateDer(ByteSpan der);

// The public key of exactly one DER certificate, as PKIX DER (an
// id-RSAES-OAEP key as the plain RSA key it holds).
absl::StatusOr<Bytes> CertificatePkixDer(ByteSpan der);

// DER of a parsed certificate.
absl::StatusOr<Bytes> CertificateDer(X509* cert);

// The certificate's public key. id-RSAES-OAEP keys (TPM 1.2 EK
// certificates) are read as the plain RSA key they hold.
absl::StatusOr<EvpPkeyPtr> CertificatePublicKey(X509* cert);

// Serial as big-endian magnitude bytes: no sign byte, no leading zero
// bytes (a zero serial is one zero byte).
Bytes CertificateSerialBytes(X509* cert);

// Serial as Teleport formats it: CertificateSerialBytes as lowercase hex
// joined by ':'.
std::string CertificateSerial(X509* cert);

// TCG attributes from the subjectAltName's directoryName (TCG EK Credential
// Profile): tpmManufacturer 2.23.133.2.1, tpmModel 2.23.133.2.2, tpmVersion
// 2.23.133.2.3. Empty strings when absent.
struct TcgDeviceInfo {
  std::string manufacturer;
  std::string model;
  std::string version;
};
TcgDeviceInfo CertificateTcgDeviceInfo(X509* cert);

// One-line RFC 2253 name.
std::string NameToString(X509_NAME* name);

// RFC 3339 UTC ("2033-03-01T14:19:16Z").
std::string TimeToString(const ASN1_TIME* t);

}  // namespace tpmjoin

#endif  // TPMJOIN_SRC_COMMON_EK_CERT_H_
