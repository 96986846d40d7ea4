// The public area of an ESYS_TR, without a TPM command when ESAPI already
// holds it.
//
// Esys_TR_FromTPMPublic runs TPM2_ReadPublic / TPM2_NV_ReadPublic and keeps
// the result in the ESYS_TR's metadata, but ESAPI has no getter for it;
// asking again would cost a second command. The metadata's serialized form
// (Esys_TR_Serialize: handle, TPM2B_NAME, resource type, then TPM2B_PUBLIC or
// TPM2B_NV_PUBLIC) is the stable format tpm2-tools stores in files, so we
// read it from there, and accept it only when its name matches the name
// ESAPI reports. Otherwise we fall back to asking the TPM.
#ifndef TPMJOIN_SRC_AGENT_TR_PUBLIC_H_
#define TPMJOIN_SRC_AGENT_TR_PUBLIC_H_

#include <tss2/tss2_esys.h>

#include "absl/status/statusor.h"

namespace tpmjoin::agent {

absl::StatusOr<TPM2B_PUBLIC> ObjectPublic(ESYS_CONTEXT* esys, ESYS_TR object);

absl::StatusOr<TPM2B_NV_PUBLIC> NvPublic(ESYS_CONTEXT* esys, ESYS_TR nv_index);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_TR_PUBLIC_H_
