#include "src/verifier/ek_info.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "src/common/ek_cert.h"
#include "src/common/errors.h"
#include "src/common/keys.h"

namespace tpmjoin::verifier {
namespace {

absl::StatusOr<X509Ptr> ParseCertificate(ByteSpan data) {
  TPMJOIN_ASSIGN_OR_RETURN(const Bytes der, ExtractCertificateDer(data));
  return ParseCertificateDer(der);
}

nlohmann::json KeyFields(const EkPublic& pub) {
  return {
      {"ek_pub_hash", pub.pub_hash},
      {"key_type", pub.key_type},
      {"ek_pub_pem", ToPem("PUBLIC KEY", pub.pkix_der)},
  };
}

absl::StatusOr<nlohmann::json> DescribeCertificate(X509* cert) {
  TPMJOIN_ASSIGN_OR_RETURN(EvpPkeyPtr key, CertificatePublicKey(cert));
  TPMJOIN_ASSIGN_OR_RETURN(const EkPublic pub, DescribeEkPublic(std::move(key)));
  const TcgDeviceInfo device = CertificateTcgDeviceInfo(cert);
  nlohmann::json json = KeyFields(pub);
  json.update({
      {"ek_cert_present", true},
      {"ek_cert_serial", CertificateSerial(cert)},
      {"tpm_manufacturer", device.manufacturer},
      {"tpm_model", device.model},
      {"tpm_version", device.version},
      {"issuer", NameToString(X509_get_issuer_name(cert))},
      {"subject", NameToString(X509_get_subject_name(cert))},
      {"not_before", TimeToString(X509_get0_notBefore(cert))},
      {"not_after", TimeToString(X509_get0_notAfter(cert))},
  });
  return json;
}

absl::StatusOr<nlohmann::json> DescribeKey(EvpPkeyPtr key) {
  TPMJOIN_ASSIGN_OR_RETURN(const EkPublic pub, DescribeEkPublic(std::move(key)));
  nlohmann::json json = KeyFields(pub);
  json.update({
      {"ek_cert_present", false},
      {"ek_cert_serial", ""},
      {"tpm_manufacturer", ""},
      {"tpm_model", ""},
      {"tpm_version", ""},
      {"issuer", ""},
      {"subject", ""},
      {"not_before", ""},
      {"not_after", ""},
  });
  return json;
}

// Intel's EK certificate service (ekop.intel.com) answers for firmware TPMs
// with {"pubhash": ..., "certificate": ...}: the DER in URL-safe base64,
// its '=' padding URL-encoded as %3D.
absl::StatusOr<Bytes> CertificateFromIntelEkServiceJson(absl::string_view text) {
  constexpr absl::string_view kWant =
      "JSON input: want the response of Intel's EK certificate service "
      "({\"certificate\": \"<URL-safe base64 DER>\"})";
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return InvalidArgumentError(absl::StrCat(kWant, ", but it is not a JSON object"));
  }
  const auto it = json.find("certificate");
  if (it == json.end() || !it->is_string()) {
    return InvalidArgumentError(absl::StrCat(kWant, ", but it has no \"certificate\" string"));
  }
  std::string base64 = absl::StrReplaceAll(it->get<std::string>(), {{"%3D", "="}, {"%3d", "="}});
  std::string der;
  if (!absl::WebSafeBase64Unescape(base64, &der) || der.empty()) {
    return InvalidArgumentError(
        absl::StrCat(kWant, ", but \"certificate\" is not URL-safe base64"));
  }
  return Bytes(der.begin(), der.end());
}

absl::StatusOr<nlohmann::json> Describe(ByteSpan data) {
  if (data.empty()) return InvalidArgumentError("no input: want an EK certificate or public key");
  const absl::string_view text = AsStringView(data);
  if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(text), "{")) {
    TPMJOIN_ASSIGN_OR_RETURN(const Bytes der, CertificateFromIntelEkServiceJson(text));
    auto cert = ParseCertificateDer(der);
    if (!cert.ok()) {
      return InvalidArgumentError(absl::StrCat(
          "Intel EK certificate service JSON: \"certificate\": ", cert.status().message()));
    }
    return DescribeCertificate(cert->get());
  }
  if (absl::StrContains(text, "-----BEGIN PUBLIC KEY-----")) {
    TPMJOIN_ASSIGN_OR_RETURN(EvpPkeyPtr key, ParsePublicKey(data));
    return DescribeKey(std::move(key));
  }
  absl::StatusOr<X509Ptr> cert = ParseCertificate(data);
  if (cert.ok()) return DescribeCertificate(cert->get());
  if (absl::StrContains(text, "-----BEGIN")) return cert.status();
  absl::StatusOr<EvpPkeyPtr> key = ParsePublicKeyDer(data);
  if (key.ok()) return DescribeKey(std::move(key).value());
  return InvalidArgumentError(absl::StrCat(
      "neither an X.509 certificate (", cert.status().message(),
      ") nor a SubjectPublicKeyInfo (", key.status().message(), ")"));
}

}  // namespace

absl::StatusOr<std::string> DescribeEk(ByteSpan data) {
  TPMJOIN_ASSIGN_OR_RETURN(const nlohmann::json json, Describe(data));
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tpmjoin::verifier
