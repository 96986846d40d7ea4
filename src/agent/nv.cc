#include "src/agent/nv.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "src/agent/tr_public.h"
#include "src/common/ek_cert.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

// Most TPMs accept NV reads of 1024 bytes (TPM_PT_NV_BUFFER_MAX); some
// (e.g. Infineon SLB9670: 768) accept less. Try the common size first and
// ask the TPM only when it refuses.
constexpr size_t kDefaultNvChunk = 1024;

absl::StatusOr<size_t> NvBufferMax(ESYS_CONTEXT* esys) {
  TPMS_CAPABILITY_DATA* data = nullptr;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX, 1, nullptr, &data);
  });
  if (rc != TSS2_RC_SUCCESS) return TssError("TPM2_GetCapability(TPM_PT_NV_BUFFER_MAX)", rc);
  EsysPtr<TPMS_CAPABILITY_DATA> owned(data);
  const auto& props = data->data.tpmProperties;
  if (props.count < 1 || props.tpmProperty[0].property != TPM2_PT_NV_BUFFER_MAX ||
      props.tpmProperty[0].value == 0) {
    return TpmError("TPM2_GetCapability did not report TPM_PT_NV_BUFFER_MAX");
  }
  return props.tpmProperty[0].value;
}

}  // namespace

absl::StatusOr<std::vector<TPM2_HANDLE>> ListHandles(ESYS_CONTEXT* esys, TPM2_HANDLE first,
                                                     UINT32 count) {
  std::vector<TPM2_HANDLE> out;
  TPMI_YES_NO more = TPM2_YES;
  TPM2_HANDLE next = first;
  while (more == TPM2_YES) {
    TPMS_CAPABILITY_DATA* data = nullptr;
    const TSS2_RC rc = WithRetry([&] {
      return Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
                                next, TPM2_MAX_CAP_HANDLES, &more, &data);
    });
    if (rc != TSS2_RC_SUCCESS) return TssError("TPM2_GetCapability(TPM_CAP_HANDLES)", rc);
    EsysPtr<TPMS_CAPABILITY_DATA> owned(data);
    const TPML_HANDLE& handles = data->data.handles;
    if (handles.count == 0) break;
    for (UINT32 i = 0; i < handles.count; ++i) {
      if (handles.handle[i] >= first && handles.handle[i] - first < count) {
        out.push_back(handles.handle[i]);
      }
    }
    const TPM2_HANDLE last = handles.handle[handles.count - 1];
    if (last - first >= count - 1) break;
    next = last + 1;
  }
  return out;
}

absl::StatusOr<std::optional<NvIndex>> OpenNvIndex(ESYS_CONTEXT* esys, TPM2_HANDLE handle) {
  ESYS_TR tr = ESYS_TR_NONE;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_TR_FromTPMPublic(esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
  });
  if (IsHandleMissing(rc)) return std::optional<NvIndex>();
  if (rc != TSS2_RC_SUCCESS) {
    return TssError(absl::StrFormat("TPM2_NV_ReadPublic(0x%08x)", handle), rc);
  }
  NvIndex index{TpmHandle(esys, tr, TpmHandle::Kind::kClose), {}};
  TPMJOIN_ASSIGN_OR_RETURN(index.pub, NvPublic(esys, tr));
  return std::optional<NvIndex>(std::move(index));
}

absl::StatusOr<Bytes> ReadNv(ESYS_CONTEXT* esys, const NvIndex& index, size_t offset,
                             size_t size, absl::string_view owner_auth) {
  const TPMA_NV attributes = index.pub.nvPublic.attributes;
  const TPM2_HANDLE nv_handle = index.pub.nvPublic.nvIndex;
  ESYS_TR auth_handle;
  if (attributes & TPMA_NV_AUTHREAD) {
    auth_handle = index.tr.get();
    TPMJOIN_RETURN_IF_ERROR(SetAuth(esys, auth_handle, ""));
  } else if (attributes & TPMA_NV_OWNERREAD) {
    auth_handle = ESYS_TR_RH_OWNER;
    TPMJOIN_RETURN_IF_ERROR(SetAuth(esys, auth_handle, owner_auth));
  } else {
    return TpmError(absl::StrFormat(
        "NV index 0x%08x can be read neither with its own auth nor by the owner", nv_handle));
  }
  const size_t index_size = index.pub.nvPublic.dataSize;
  offset = std::min(offset, index_size);
  size = std::min(size, index_size - offset);
  size_t chunk = kDefaultNvChunk;
  Bytes out;
  out.reserve(size);
  while (out.size() < size) {
    const UINT16 want = static_cast<UINT16>(std::min(chunk, size - out.size()));
    const UINT16 at = static_cast<UINT16>(offset + out.size());
    TPM2B_MAX_NV_BUFFER* data = nullptr;
    const TSS2_RC rc = WithRetry([&] {
      return Esys_NV_Read(esys, auth_handle, index.tr.get(), ESYS_TR_PASSWORD, ESYS_TR_NONE,
                          ESYS_TR_NONE, want, at, &data);
    });
    EsysPtr<TPM2B_MAX_NV_BUFFER> owned(data);
    if (rc != TSS2_RC_SUCCESS && chunk == kDefaultNvChunk && (rc & ~0xf40u) == TPM2_RC_VALUE) {
      // The TPM's NV buffer is smaller than our default: ask its size.
      TPMJOIN_ASSIGN_OR_RETURN(chunk, NvBufferMax(esys));
      if (chunk >= kDefaultNvChunk) return TssError("TPM2_NV_Read", rc);
      continue;
    }
    if (rc != TSS2_RC_SUCCESS) {
      return TssError(absl::StrFormat("TPM2_NV_Read(0x%08x)", nv_handle), rc);
    }
    if (data->size == 0 || data->size > want) {
      return TpmError(absl::StrFormat("TPM2_NV_Read(0x%08x) returned %u bytes, asked %u",
                                      nv_handle, data->size, want));
    }
    out.insert(out.end(), data->buffer, data->buffer + data->size);
  }
  return out;
}

absl::StatusOr<Bytes> ReadNvCertificate(ESYS_CONTEXT* esys, const NvIndex& index,
                                        absl::string_view owner_auth) {
  const size_t index_size = index.pub.nvPublic.dataSize;
  TPMJOIN_ASSIGN_OR_RETURN(Bytes contents, ReadNv(esys, index, 0, kDefaultNvChunk, owner_auth));
  // Read what the first chunk says the certificate needs (TCG header and
  // DER length), the whole index when it says nothing.
  const size_t cert_size = NvCertificateSize(contents);
  const size_t needed = cert_size == 0 ? index_size : std::min(index_size, cert_size);
  if (needed > contents.size()) {
    TPMJOIN_ASSIGN_OR_RETURN(
        Bytes rest, ReadNv(esys, index, contents.size(), needed - contents.size(), owner_auth));
    contents.insert(contents.end(), rest.begin(), rest.end());
  }
  auto der = ExtractCertificateDer(contents);
  if (!der.ok()) {
    return TpmError(absl::StrFormat("NV index 0x%08x does not hold a DER certificate: %s",
                                    index.pub.nvPublic.nvIndex, der.status().message()));
  }
  return der;
}

}  // namespace tpmjoin::agent
