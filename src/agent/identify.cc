#include "src/agent/identify.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "src/agent/ek.h"
#include "src/agent/tpm_info.h"
#include "src/agent/tss.h"
#include "src/common/ek_cert.h"
#include "src/common/errors.h"
#include "src/common/keys.h"

namespace tpmjoin::agent {

absl::StatusOr<std::string> Identify(const AgentConfig& config) {
  TPMJOIN_ASSIGN_OR_RETURN(std::unique_ptr<TpmConnection> tpm, TpmConnection::Open(config.tcti));
  TPMJOIN_ASSIGN_OR_RETURN(TpmInfo info, ReadTpmInfo(tpm->esys()));
  TPMJOIN_ASSIGN_OR_RETURN(Ek ek, LoadEk(*tpm, config));
  TPMJOIN_RETURN_IF_ERROR(ReadEkCertificate(*tpm, config, &ek));

  nlohmann::json out = nlohmann::json::object();
  out["ek_pub_hash"] = ek.identity.pub_hash;
  out["ek_algorithm"] = std::string(KeyAlgorithmName(config.ek_algorithm));
  out["ek_key_type"] = ek.identity.key_type;
  out["ek_template"] = ek.profile->name;
  out["ek_persistent"] = ek.persistent;
  out["ek_pub_pem"] = ToPem("PUBLIC KEY", ek.identity.pkix_der);
  out["ek_cert_present"] = ek.cert_der.has_value();
  out["ek_cert_serial"] = "";
  if (ek.cert_der) {
    TPMJOIN_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificateDer(*ek.cert_der));
    out["ek_cert_serial"] = CertificateSerial(cert.get());
    out["ek_cert_pem"] = ToPem("CERTIFICATE", *ek.cert_der);
  }
  out["tpm_manufacturer"] = info.manufacturer;
  out["tpm_manufacturer_id"] = absl::StrFormat("0x%08x", info.manufacturer_id);
  out["tpm_vendor_string"] = info.vendor_string;
  out["tpm_firmware_version"] = info.firmware_version;
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tpmjoin::agent
