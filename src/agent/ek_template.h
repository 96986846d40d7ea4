// The template TPM2_CreatePrimary makes an EK from: its profile's default,
// or the EK template and EK nonce provisioned in NV (TCG EK Credential
// Profile, section 2.2.1.5: template at the certificate's index + 2, nonce
// at + 1, low range only).
#ifndef TPMJOIN_SRC_AGENT_EK_TEMPLATE_H_
#define TPMJOIN_SRC_AGENT_EK_TEMPLATE_H_

#include <tss2/tss2_esys.h>

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/agent/ek_profile.h"
#include "src/common/bytes.h"

namespace tpmjoin::agent {

// The profile's template; or, when `nv_handles` lists the profile's
// template index, the TPMT_PUBLIC stored there (padding after it allowed),
// which must pass CheckNvEkTemplate; with the EK nonce, when listed, put
// into the unique field (ApplyEkNonce). Without a nonce an NV template is
// used unmodified. NV indices are read with owner_auth unless they allow
// AUTHREAD. TPM errors name the index and what is wrong with it.
absl::StatusOr<TPMT_PUBLIC> EkCreationTemplate(ESYS_CONTEXT* esys, const EkProfile& profile,
                                               const std::vector<TPM2_HANDLE>& nv_handles,
                                               absl::string_view owner_auth);

// Parses an EK template index's contents (exposed for tests).
absl::StatusOr<TPMT_PUBLIC> ParseNvEkTemplate(ByteSpan contents, const EkProfile& profile);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_EK_TEMPLATE_H_
