#include "src/verifier/policy.h"

#include <openssl/pem.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/common/ek_cert.h"
#include "src/common/errors.h"
#include "src/common/hex.h"

namespace tpmjoin::verifier {
namespace {

using Json = nlohmann::json;

constexpr size_t kSha256HexLength = 64;
constexpr absl::string_view kPemCertificateBegin = "-----BEGIN CERTIFICATE-----";

absl::Status PolicyError(absl::string_view where, absl::string_view problem) {
  return InvalidArgumentError(absl::StrCat("policy: ", where, ": ", problem));
}

// A string value; "" counts as unset (nullopt).
absl::StatusOr<std::optional<std::string>> OptionalString(const Json& value,
                                                          absl::string_view where) {
  if (!value.is_string()) return PolicyError(where, "must be a string");
  const auto& text = value.get_ref<const std::string&>();
  if (text.empty()) return std::optional<std::string>();
  return std::optional<std::string>(text);
}

absl::StatusOr<std::optional<std::string>> ParseEkPublicHash(const Json& value,
                                                             absl::string_view where) {
  TPMJOIN_ASSIGN_OR_RETURN(std::optional<std::string> text, OptionalString(value, where));
  if (!text) return text;
  if (text->size() != kSha256HexLength || !HexDecode(*text)) {
    return PolicyError(where, absl::StrCat("must be ", kSha256HexLength,
                                           " hex digits (SHA-256 of the EK's PKIX DER), not \"",
                                           *text, "\""));
  }
  return std::optional<std::string>(absl::AsciiStrToLower(*text));
}

absl::StatusOr<std::optional<Bytes>> ParseSerial(const Json& value, absl::string_view where) {
  TPMJOIN_ASSIGN_OR_RETURN(std::optional<std::string> text, OptionalString(value, where));
  if (!text) return std::optional<Bytes>();
  std::optional<Bytes> bytes = HexDecode(*text, /*allow_colons=*/true);
  if (!bytes) {
    return PolicyError(where, absl::StrCat("must be hex bytes, optionally joined by ':' "
                                           "(\"04:c0:1d\"), not \"",
                                           *text, "\""));
  }
  const ByteSpan trimmed = TrimLeadingZeros(*bytes);
  return std::optional<Bytes>(Bytes(trimmed.begin(), trimmed.end()));
}

absl::StatusOr<AllowRule> ParseRule(const Json& value, size_t index) {
  const std::string where = absl::StrCat("\"allow\"[", index, "]");
  if (!value.is_object()) return PolicyError(where, "must be an object");
  AllowRule rule;
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string key_where = absl::StrCat(where, ".", it.key());
    if (it.key() == "description") {
      if (!it.value().is_string()) return PolicyError(key_where, "must be a string");
      rule.description = it.value().get<std::string>();
    } else if (it.key() == "ek_public_hash") {
      TPMJOIN_ASSIGN_OR_RETURN(rule.ek_public_hash, ParseEkPublicHash(it.value(), key_where));
    } else if (it.key() == "ek_certificate_serial") {
      TPMJOIN_ASSIGN_OR_RETURN(rule.ek_certificate_serial, ParseSerial(it.value(), key_where));
    } else {
      return PolicyError(where, absl::StrCat("unknown key \"", it.key(), "\""));
    }
  }
  if (!rule.ek_public_hash && !rule.ek_certificate_serial) {
    return PolicyError(where, "sets neither ek_public_hash nor ek_certificate_serial");
  }
  return rule;
}

// Exactly one PEM CERTIFICATE block (surrounding whitespace allowed) whose
// content is exactly one DER certificate.
absl::StatusOr<X509Ptr> ParseCertificatePem(absl::string_view pem, absl::string_view where) {
  const absl::string_view text = absl::StripAsciiWhitespace(pem);
  if (!absl::StartsWith(text, kPemCertificateBegin)) {
    return PolicyError(where, "is not a PEM certificate (\"-----BEGIN CERTIFICATE-----\")");
  }
  ClearOpensslErrors();
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) return OpensslError("BIO_new_mem_buf");
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
    ClearOpensslErrors();
    return PolicyError(where, "is not a well-formed PEM block");
  }
  OpensslStringPtr owned_name(name), owned_header(header);
  const Bytes der(data, data + len);
  OPENSSL_free(data);
  if (*header != '\0') return PolicyError(where, "has PEM headers");
  char* rest = nullptr;
  const long rest_len = BIO_get_mem_data(bio.get(), &rest);
  if (!absl::StripAsciiWhitespace(absl::string_view(rest, rest_len)).empty()) {
    return PolicyError(where, "has data after the certificate (one certificate per entry)");
  }
  auto cert = ParseCertificateDer(der);
  if (!cert.ok()) return PolicyError(where, cert.status().message());
  return std::move(cert).value();
}

absl::StatusOr<std::vector<X509Ptr>> ParseCertificateList(const Json& value,
                                                          absl::string_view key) {
  const std::string where = absl::StrCat("\"", key, "\"");
  if (!value.is_array()) return PolicyError(where, "must be an array of PEM strings");
  std::vector<X509Ptr> certs;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string item_where = absl::StrCat(where, "[", i, "]");
    if (!value[i].is_string()) return PolicyError(item_where, "must be a string");
    TPMJOIN_ASSIGN_OR_RETURN(X509Ptr cert,
                             ParseCertificatePem(value[i].get_ref<const std::string&>(),
                                                 item_where));
    certs.push_back(std::move(cert));
  }
  return certs;
}

// Parses JSON, rejecting an object that has the same key twice (parsers
// disagree on which value wins; nlohmann keeps the last, Go's
// encoding/json too, others the first).
absl::StatusOr<Json> ParseJsonWithoutDuplicateKeys(absl::string_view json) {
  std::vector<std::set<std::string>> open_objects;  // keys seen, innermost last
  std::optional<std::string> duplicate;
  const Json::parser_callback_t check = [&](int /*depth*/, Json::parse_event_t event,
                                            Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() && !duplicate &&
            !open_objects.back().insert(parsed.get<std::string>()).second) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  Json root = Json::parse(json.begin(), json.end(), check, /*allow_exceptions=*/false);
  if (root.is_discarded()) return InvalidArgumentError("policy: not valid JSON");
  if (duplicate) {
    return InvalidArgumentError(absl::StrCat("policy: duplicate key \"", *duplicate,
                                             "\" (each key may appear once per object)"));
  }
  return root;
}

// A rule that names an EK certificate only by serial proves nothing without
// a CA: anyone can issue themselves a certificate with that serial for a key
// of their own.
absl::Status CheckSerialRulesHaveCas(const Policy& policy) {
  if (!policy.ekcert_allowed_cas.empty()) return absl::OkStatus();
  for (size_t i = 0; i < policy.allow.size(); ++i) {
    const AllowRule& rule = policy.allow[i];
    if (rule.ek_certificate_serial && !rule.ek_public_hash) {
      return PolicyError(
          absl::StrCat("\"allow\"[", i, "]"),
          "sets only ek_certificate_serial, but the policy has no \"ekcert_allowed_cas\": "
          "without a CA that verifies the EK certificate, anyone can make a certificate with "
          "that serial for a key of their own. Add \"ekcert_allowed_cas\" (the TPM maker's "
          "CA), or add the TPM's ek_public_hash to the rule");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Policy> ParsePolicy(absl::string_view json) {
  TPMJOIN_ASSIGN_OR_RETURN(const Json root, ParseJsonWithoutDuplicateKeys(json));
  if (!root.is_object()) return InvalidArgumentError("policy: must be a JSON object");
  Policy policy;
  bool has_allow = false;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& key = it.key();
    const Json& value = it.value();
    if (key == "allow") {
      if (!value.is_array()) return PolicyError("\"allow\"", "must be an array of rules");
      has_allow = true;
      for (size_t i = 0; i < value.size(); ++i) {
        TPMJOIN_ASSIGN_OR_RETURN(AllowRule rule, ParseRule(value[i], i));
        policy.allow.push_back(std::move(rule));
      }
    } else if (key == "ekcert_allowed_cas") {
      TPMJOIN_ASSIGN_OR_RETURN(policy.ekcert_allowed_cas, ParseCertificateList(value, key));
    } else if (key == "ekcert_intermediate_cas") {
      TPMJOIN_ASSIGN_OR_RETURN(policy.ekcert_intermediate_cas, ParseCertificateList(value, key));
    } else {
      return InvalidArgumentError(absl::StrCat("policy: unknown key \"", key, "\""));
    }
  }
  if (!has_allow) return InvalidArgumentError("policy: \"allow\" is missing");
  if (policy.allow.empty()) return PolicyError("\"allow\"", "has no rule");
  if (!policy.ekcert_intermediate_cas.empty() && policy.ekcert_allowed_cas.empty()) {
    return InvalidArgumentError(
        "policy: \"ekcert_intermediate_cas\" is set but \"ekcert_allowed_cas\" is not "
        "(intermediates only help to reach a listed CA)");
  }
  TPMJOIN_RETURN_IF_ERROR(CheckSerialRulesHaveCas(policy));
  return policy;
}

ByteSpan TrimLeadingZeros(ByteSpan serial) {
  const auto first = std::find_if(serial.begin(), serial.end(), [](uint8_t b) { return b != 0; });
  return serial.subspan(first - serial.begin());
}

bool RuleMatches(const AllowRule& rule, const EkIdentifiers& ek) {
  if (rule.ek_public_hash && !absl::EqualsIgnoreCase(*rule.ek_public_hash, ek.public_hash)) {
    return false;
  }
  if (rule.ek_certificate_serial) {
    if (!ek.certificate_serial) return false;
    const ByteSpan want = *rule.ek_certificate_serial;
    if (TrimLeadingZeros(*ek.certificate_serial) != want) return false;
  }
  return true;
}

std::optional<size_t> FirstMatchingRule(const std::vector<AllowRule>& rules,
                                        const EkIdentifiers& ek) {
  for (size_t i = 0; i < rules.size(); ++i) {
    if (RuleMatches(rules[i], ek)) return i;
  }
  return std::nullopt;
}

std::string RuleLabel(const std::vector<AllowRule>& rules, size_t index) {
  if (index < rules.size() && !rules[index].description.empty()) return rules[index].description;
  return absl::StrCat(index);
}

}  // namespace tpmjoin::verifier
