// tpmjoin identify: the same shape as `tbot tpm identify`.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/abi_helpers.h"
#include "cli/commands.h"
#include "cli/progress.h"

namespace tpmjoin_cli {

const char kIdentifyHelp[] =
    "usage: tpmjoin identify [--tcti TCTI] [--ecc] [--json] [--debug]\n"
    "\n"
    "Prints the identity of this TPM's Endorsement Key, to paste into a join\n"
    "token's allow rule: ek_public_hash, or ek_certificate_serial (a serial-only\n"
    "rule also needs the TPM maker's CA in ekcert_allowed_cas).\n"
    "\n"
    "  --tcti TCTI  TPM to use, as tpm2-tools takes it (default: $TPM2TOOLS_TCTI,\n"
    "               then $TCTI, then device:/dev/tpmrm0)\n"
    "  --ecc        describe the ECC EK instead of the RSA EK\n"
    "  --json       print the identify JSON of tpmjoin_identify()\n"
    "  --debug      also print the EK public key and certificate as PEM\n"
    "\n"
    "Progress (reading or making the EK) is shown on stderr; stdout carries only\n"
    "the result.\n"
    "\n"
    "Exit codes: 0 success, 1 the TPM could not be read, 2 bad command line.\n";

std::string TctiConfig(const std::string& tcti, const std::string& extra) {
  nlohmann::json config = nlohmann::json::object();
  if (!tcti.empty()) config["tcti"] = tcti;
  if (!extra.empty()) config.update(nlohmann::json::parse(extra));
  return config.dump();
}

int IdentifyCommand(const Args& args) {
  std::string tcti;
  bool json = false, debug = false, ecc = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--tcti" && i + 1 < args.size()) {
      tcti = args[++i];
    } else if (args[i] == "--json") {
      json = true;
    } else if (args[i] == "--debug") {
      debug = true;
    } else if (args[i] == "--ecc") {
      ecc = true;
    } else {
      std::fprintf(stderr, "tpmjoin identify: unexpected argument \"%s\"\n\n%s", args[i].c_str(),
                   kIdentifyHelp);
      return kExitUsage;
    }
  }
  OwnedBytes out;
  {
    // Without a persistent EK the library makes one (TPM2_CreatePrimary):
    // 10+ s for RSA on some hardware TPMs. Progress goes to stderr; stdout
    // carries only the result (--json stays parseable).
    Progress progress("Reading the TPM's EK (tpmjoin_identify; making an EK can take 10+ s)");
    Check(tpmjoin_identify(TctiConfig(tcti, ecc ? R"({"ek_algorithm":"ecc"})" : "").c_str(),
                           out.out()));
    progress.Done();
  }
  if (json) {
    std::printf("%s\n", out.str().c_str());
    return kExitOk;
  }
  const auto info = nlohmann::json::parse(out.str());
  std::printf("TPM Information\n");
  std::printf("EKPub Hash: %s\n", info["ek_pub_hash"].get<std::string>().c_str());
  std::printf("EKCert Detected: %s\n", info["ek_cert_present"].get<bool>() ? "true" : "false");
  if (info["ek_cert_present"].get<bool>()) {
    std::printf("EKCert Serial: %s\n", info["ek_cert_serial"].get<std::string>().c_str());
  }
  std::printf("EK Key Type: %s\n", info["ek_key_type"].get<std::string>().c_str());
  std::printf("TPM Manufacturer: %s (%s)\n", info["tpm_manufacturer"].get<std::string>().c_str(),
              info["tpm_manufacturer_id"].get<std::string>().c_str());
  std::printf("TPM Vendor String: %s\n", info["tpm_vendor_string"].get<std::string>().c_str());
  std::printf("TPM Firmware Version: %s\n",
              info["tpm_firmware_version"].get<std::string>().c_str());
  if (debug) {
    std::printf("EKPub:\n%s", info["ek_pub_pem"].get<std::string>().c_str());
    if (info.contains("ek_cert_pem")) {
      std::printf("EKCert:\n%s", info["ek_cert_pem"].get<std::string>().c_str());
    }
  }
  return kExitOk;
}

}  // namespace tpmjoin_cli
