// What the TPM says about itself (TPM2_GetCapability, fixed properties).
#ifndef TPMJOIN_SRC_AGENT_TPM_INFO_H_
#define TPMJOIN_SRC_AGENT_TPM_INFO_H_

#include <tss2/tss2_esys.h>

#include <string>

#include "absl/status/statusor.h"

namespace tpmjoin::agent {

struct TpmInfo {
  uint32_t manufacturer_id = 0;  // TPM_PT_MANUFACTURER, e.g. 0x49424d00
  std::string manufacturer;      // the same as text, e.g. "IBM"
  std::string vendor_string;     // TPM_PT_VENDOR_STRING_1..4
  std::string firmware_version;  // "a.b.c.d" from TPM_PT_FIRMWARE_VERSION_1/2
};

// One TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES) command.
absl::StatusOr<TpmInfo> ReadTpmInfo(ESYS_CONTEXT* esys);

// Four bytes of a property as printable text (NULs and trailing spaces
// dropped, other unprintable bytes as '?').
std::string PropertyText(uint32_t value);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_TPM_INFO_H_
