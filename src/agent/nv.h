// Reading TPM NV indices (EK certificates, nonces and templates) and
// listing handles.
#ifndef TPMJOIN_SRC_AGENT_NV_H_
#define TPMJOIN_SRC_AGENT_NV_H_

#include <tss2/tss2_esys.h>

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "src/agent/tss.h"
#include "src/common/bytes.h"

namespace tpmjoin::agent {

// Handles present in [first, first + count) (TPM2_GetCapability
// TPM_CAP_HANDLES), e.g. NV indices or persistent objects.
absl::StatusOr<std::vector<TPM2_HANDLE>> ListHandles(ESYS_CONTEXT* esys, TPM2_HANDLE first,
                                                     UINT32 count);

struct NvIndex {
  TpmHandle tr;
  TPM2B_NV_PUBLIC pub;
};

// Opens an NV index (TPM2_NV_ReadPublic); nullopt when it does not exist.
absl::StatusOr<std::optional<NvIndex>> OpenNvIndex(ESYS_CONTEXT* esys, TPM2_HANDLE handle);

// Reads bytes [offset, offset + size) of the index (clamped to its size),
// in chunks the TPM accepts, with the index's own (empty) auth when it
// allows AUTHREAD, else with owner_auth.
absl::StatusOr<Bytes> ReadNv(ESYS_CONTEXT* esys, const NvIndex& index, size_t offset,
                             size_t size, absl::string_view owner_auth);

// Reads a DER certificate stored in the index, reading only as many bytes
// as the DER (behind an optional TCG header) needs, and returns exactly the
// DER (NV padding and header dropped).
absl::StatusOr<Bytes> ReadNvCertificate(ESYS_CONTEXT* esys, const NvIndex& index,
                                        absl::string_view owner_auth);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_NV_H_
