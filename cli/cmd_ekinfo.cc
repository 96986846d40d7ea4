// tpmjoin ekinfo FILE: what an operator needs to write an allow rule.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/abi_helpers.h"
#include "cli/commands.h"

namespace tpmjoin_cli {

const char kEkInfoHelp[] =
    "usage: tpmjoin ekinfo [--json] FILE\n"
    "\n"
    "Describes an EK certificate or EK public key (DER or PEM; raw TPM NV dumps\n"
    "with padding or a TCG header are accepted): EKPub hash, certificate serial,\n"
    "key type, TPM manufacturer/model/version from the certificate, issuer and\n"
    "validity; then prints a Teleport join token `tpm:` allow rule for it.\n"
    "\n"
    "  --json   print the JSON of tpmjoin_ek_info() only\n"
    "\n"
    "Exit codes: 0 success, 1 unreadable or not an EK certificate/key,\n"
    "2 bad command line.\n";

namespace {

std::string Str(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

}  // namespace

int EkInfoCommand(const Args& args) {
  std::string path;
  bool json = false;
  for (const auto& a : args) {
    if (a == "--json") {
      json = true;
    } else if (path.empty() && !a.empty() && a[0] != '-') {
      path = a;
    } else {
      std::fprintf(stderr, "tpmjoin ekinfo: unexpected argument \"%s\"\n\n%s", a.c_str(),
                   kEkInfoHelp);
      return kExitUsage;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "tpmjoin ekinfo: FILE is required\n\n%s", kEkInfoHelp);
    return kExitUsage;
  }
  const std::string data = ReadFile(path);
  OwnedBytes out;
  Check(tpmjoin_ek_info(reinterpret_cast<const uint8_t*>(data.data()), data.size(), out.out()));
  if (json) {
    std::printf("%s\n", out.str().c_str());
    return kExitOk;
  }
  const auto info = nlohmann::json::parse(out.str());
  const bool has_cert = info.value("ek_cert_present", false);
  std::printf("File: %s (%s)\n", path.c_str(), has_cert ? "EK certificate" : "EK public key");
  std::printf("EKPub Hash: %s\n", Str(info, "ek_pub_hash").c_str());
  std::printf("Key Type: %s\n", Str(info, "key_type").c_str());
  if (has_cert) {
    std::printf("EKCert Serial: %s\n", Str(info, "ek_cert_serial").c_str());
    std::printf("TPM Manufacturer: %s\n", Str(info, "tpm_manufacturer").c_str());
    std::printf("TPM Model: %s\n", Str(info, "tpm_model").c_str());
    std::printf("TPM Version: %s\n", Str(info, "tpm_version").c_str());
    std::printf("Issuer: %s\n", Str(info, "issuer").c_str());
    std::printf("Valid: %s to %s\n", Str(info, "not_before").c_str(),
                Str(info, "not_after").c_str());
  }
  std::string description = Str(info, "tpm_model");
  if (description.empty()) description = "TPM";
  if (has_cert) description += " " + Str(info, "ek_cert_serial");
  std::printf("\n# Teleport join token rule (spec.tpm). A rule matches when every field it\n"
              "# sets matches. Also list the TPM maker's CA in ekcert_allowed_cas.\n");
  std::printf("tpm:\n  allow:\n    - description: %s\n",
              nlohmann::json(description).dump().c_str());
  std::printf("      ek_public_hash: \"%s\"\n", Str(info, "ek_pub_hash").c_str());
  if (has_cert) {
    std::printf("      ek_certificate_serial: \"%s\"\n", Str(info, "ek_cert_serial").c_str());
  }
  return kExitOk;
}

}  // namespace tpmjoin_cli
