#include "src/agent/tr_public.h"

#include <tss2/tss2_mu.h>

#include "src/agent/tss.h"
#include "src/common/bytes.h"
#include "src/common/digest.h"
#include "src/common/errors.h"
#include "src/common/tpm_mu.h"

namespace tpmjoin::agent {
namespace {

// Resource types in ESAPI's serialized metadata (IESYSC_RESOURCE_TYPE).
constexpr UINT32 kKeyResource = 1;
constexpr UINT32 kNvResource = 2;

struct Serialized {
  TPM2B_NAME name;
  UINT32 type;
  Bytes rest;  // the public area
};

absl::StatusOr<Serialized> Serialize(ESYS_CONTEXT* esys, ESYS_TR tr) {
  uint8_t* buffer = nullptr;
  size_t size = 0;
  const TSS2_RC rc = Esys_TR_Serialize(esys, tr, &buffer, &size);
  if (rc != TSS2_RC_SUCCESS) return TssError("Esys_TR_Serialize", rc);
  EsysPtr<uint8_t> owned(buffer);
  Serialized out{};
  size_t offset = 0;
  TPM2_HANDLE handle = 0;
  if (Tss2_MU_TPM2_HANDLE_Unmarshal(buffer, size, &offset, &handle) != TSS2_RC_SUCCESS ||
      Tss2_MU_TPM2B_NAME_Unmarshal(buffer, size, &offset, &out.name) != TSS2_RC_SUCCESS ||
      Tss2_MU_UINT32_Unmarshal(buffer, size, &offset, &out.type) != TSS2_RC_SUCCESS) {
    return InternalError("unexpected ESYS_TR serialization");
  }
  out.rest.assign(buffer + offset, buffer + size);
  return out;
}

bool NameMatches(const TPM2B_NAME& name, TPM2_ALG_ID name_alg, const Bytes& marshaled) {
  auto computed = ObjectName(name_alg, marshaled);
  return computed.ok() && ConstantTimeEquals(*computed, ByteSpan(name.name, name.size));
}

}  // namespace

absl::StatusOr<TPM2B_PUBLIC> ObjectPublic(ESYS_CONTEXT* esys, ESYS_TR object) {
  auto serialized = Serialize(esys, object);
  if (serialized.ok() && serialized->type == kKeyResource) {
    TPM2B_PUBLIC pub = {};
    size_t offset = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(serialized->rest.data(), serialized->rest.size(),
                                       &offset, &pub) == TSS2_RC_SUCCESS &&
        offset == serialized->rest.size()) {
      auto marshaled = Marshal(pub.publicArea);
      if (marshaled.ok() && NameMatches(serialized->name, pub.publicArea.nameAlg, *marshaled)) {
        return pub;
      }
    }
  }
  TPM2B_PUBLIC* out_public = nullptr;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_ReadPublic(esys, object, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &out_public,
                           nullptr, nullptr);
  });
  if (rc != TSS2_RC_SUCCESS) return TssError("TPM2_ReadPublic", rc);
  EsysPtr<TPM2B_PUBLIC> owned(out_public);
  return *out_public;
}

absl::StatusOr<TPM2B_NV_PUBLIC> NvPublic(ESYS_CONTEXT* esys, ESYS_TR nv_index) {
  auto serialized = Serialize(esys, nv_index);
  if (serialized.ok() && serialized->type == kNvResource) {
    TPM2B_NV_PUBLIC pub = {};
    size_t offset = 0;
    if (Tss2_MU_TPM2B_NV_PUBLIC_Unmarshal(serialized->rest.data(), serialized->rest.size(),
                                          &offset, &pub) == TSS2_RC_SUCCESS &&
        offset == serialized->rest.size()) {
      Bytes marshaled(sizeof(TPMS_NV_PUBLIC));
      size_t len = 0;
      if (Tss2_MU_TPMS_NV_PUBLIC_Marshal(&pub.nvPublic, marshaled.data(), marshaled.size(),
                                         &len) == TSS2_RC_SUCCESS) {
        marshaled.resize(len);
        if (NameMatches(serialized->name, pub.nvPublic.nameAlg, marshaled)) return pub;
      }
    }
  }
  TPM2B_NV_PUBLIC* out_public = nullptr;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_NV_ReadPublic(esys, nv_index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              &out_public, nullptr);
  });
  if (rc != TSS2_RC_SUCCESS) return TssError("TPM2_NV_ReadPublic", rc);
  EsysPtr<TPM2B_NV_PUBLIC> owned(out_public);
  return *out_public;
}

}  // namespace tpmjoin::agent
