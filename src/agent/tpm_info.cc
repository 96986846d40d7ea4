#include "src/agent/tpm_info.h"

#include "absl/strings/str_format.h"
#include "src/agent/tss.h"

namespace tpmjoin::agent {

std::string PropertyText(uint32_t value) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) {
    const char c = static_cast<char>((value >> shift) & 0xff);
    if (c == '\0') continue;
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

absl::StatusOr<TpmInfo> ReadTpmInfo(ESYS_CONTEXT* esys) {
  TPMS_CAPABILITY_DATA* data = nullptr;
  constexpr UINT32 kCount = TPM2_PT_FIRMWARE_VERSION_2 - TPM2_PT_MANUFACTURER + 1;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              TPM2_CAP_TPM_PROPERTIES, TPM2_PT_MANUFACTURER, kCount, nullptr,
                              &data);
  });
  if (rc != TSS2_RC_SUCCESS) return TssError("TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES)", rc);
  EsysPtr<TPMS_CAPABILITY_DATA> owned(data);
  TpmInfo info;
  uint32_t firmware1 = 0;
  uint32_t firmware2 = 0;
  const TPML_TAGGED_TPM_PROPERTY& props = data->data.tpmProperties;
  for (UINT32 i = 0; i < props.count && i < TPM2_MAX_TPM_PROPERTIES; ++i) {
    const uint32_t value = props.tpmProperty[i].value;
    switch (props.tpmProperty[i].property) {
      case TPM2_PT_MANUFACTURER:
        info.manufacturer_id = value;
        info.manufacturer = PropertyText(value);
        break;
      case TPM2_PT_VENDOR_STRING_1:
      case TPM2_PT_VENDOR_STRING_2:
      case TPM2_PT_VENDOR_STRING_3:
      case TPM2_PT_VENDOR_STRING_4:
        info.vendor_string += PropertyText(value);
        break;
      case TPM2_PT_FIRMWARE_VERSION_1:
        firmware1 = value;
        break;
      case TPM2_PT_FIRMWARE_VERSION_2:
        firmware2 = value;
        break;
      default:
        break;
    }
  }
  info.firmware_version = absl::StrFormat("%u.%u.%u.%u", firmware1 >> 16, firmware1 & 0xffff,
                                          firmware2 >> 16, firmware2 & 0xffff);
  return info;
}

}  // namespace tpmjoin::agent
