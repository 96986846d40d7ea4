#include "src/verifier/ek_validation.h"

#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "src/common/errors.h"

namespace tpmjoin::verifier {
namespace {

absl::Status AsBadMessage(const absl::Status& status, absl::string_view field) {
  return BadMessageError(absl::StrCat(field, ": ", status.message()));
}

absl::StatusOr<Ek> FromCertificate(const std::string& bytes) {
  auto der = StrictNvCertificateDer(AsSpan(bytes));
  if (!der.ok()) return AsBadMessage(der.status(), "ek_cert");
  auto cert = ParseCertificateDer(*der);
  if (!cert.ok()) return AsBadMessage(cert.status(), "ek_cert");
  auto key = CertificatePublicKey(cert->get());
  if (!key.ok()) return AsBadMessage(key.status(), "ek_cert");
  TPMJOIN_ASSIGN_OR_RETURN(EkPublic pub, DescribeEkPublic(std::move(key).value()));
  Ek ek{std::move(pub)};
  ek.cert = std::move(cert).value();
  ek.serial = CertificateSerialBytes(ek.cert.get());
  ek.serial_text = CertificateSerial(ek.cert.get());
  ek.device = CertificateTcgDeviceInfo(ek.cert.get());
  return ek;
}

absl::StatusOr<Ek> FromPublicKey(const std::string& bytes) {
  auto key = ParsePublicKeyDer(AsSpan(bytes));
  if (!key.ok()) return AsBadMessage(key.status(), "ek_key");
  TPMJOIN_ASSIGN_OR_RETURN(EkPublic pub, DescribeEkPublic(std::move(key).value()));
  return Ek{std::move(pub)};
}

}  // namespace

absl::StatusOr<Ek> ParseEk(const v1::RegisterUsingTPMMethodInitialRequest& init) {
  absl::StatusOr<Ek> ek;
  switch (init.ek_case()) {
    case v1::RegisterUsingTPMMethodInitialRequest::kEkCert:
      ek = FromCertificate(init.ek_cert());
      break;
    case v1::RegisterUsingTPMMethodInitialRequest::kEkKey:
      ek = FromPublicKey(init.ek_key());
      break;
    default:
      return BadMessageError("init carries neither ek_cert nor ek_key");
  }
  return ek;
}

absl::StatusOr<ValidityWindow> VerifyEk(Ek* ek, const CertChainVerifier* chain, time_t at) {
  TPMJOIN_ASSIGN_OR_RETURN(ek->profile, EkProfileForKey(ek->pub.key.get()));
  if (chain == nullptr) return ValidityWindow{};
  if (!ek->cert) {
    return DeniedError(
        "EK certificate required (the policy sets ekcert_allowed_cas) but the request "
        "carries only ek_key");
  }
  // X509_verify_cert takes any certificate as the leaf; an EK certificate is
  // an end entity. (A CA certificate from an allowed maker is no EK, even
  // when its key matches an allow rule.)
  if ((X509_get_extension_flags(ek->cert.get()) & EXFLAG_CA) != 0) {
    return DeniedError(
        "the EK certificate is a CA certificate (basicConstraints cA TRUE), not an EK "
        "certificate");
  }
  return chain->Verify(ek->cert.get(), at);
}

}  // namespace tpmjoin::verifier
