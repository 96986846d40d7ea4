#include "src/agent/ek_template.h"

#include <tss2/tss2_mu.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_format.h"
#include "src/agent/nv.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

bool Listed(const std::vector<TPM2_HANDLE>& handles, TPM2_HANDLE h) {
  return h != 0 && std::find(handles.begin(), handles.end(), h) != handles.end();
}

bool AllBytesAre(ByteSpan bytes, uint8_t value) {
  return std::all_of(bytes.begin(), bytes.end(), [value](uint8_t b) { return b == value; });
}

// An NV index of the EK range, whole; nullopt when it does not exist.
absl::StatusOr<std::optional<Bytes>> ReadWholeIndex(ESYS_CONTEXT* esys, TPM2_HANDLE handle,
                                                    absl::string_view owner_auth) {
  TPMJOIN_ASSIGN_OR_RETURN(std::optional<NvIndex> index, OpenNvIndex(esys, handle));
  if (!index) return std::optional<Bytes>();
  TPMJOIN_ASSIGN_OR_RETURN(Bytes bytes,
                           ReadNv(esys, *index, 0, index->pub.nvPublic.dataSize, owner_auth));
  return std::optional<Bytes>(std::move(bytes));
}

}  // namespace

absl::StatusOr<TPMT_PUBLIC> ParseNvEkTemplate(ByteSpan contents, const EkProfile& profile) {
  // tss2-mu reads one TPMT_PUBLIC from the start; an index defined larger
  // than the template holds padding (0x00 or 0xFF) after it, which
  // tpm2_createek ignores too.
  TPMT_PUBLIC pub = {};
  size_t offset = 0;
  const bool parsed = !contents.empty() &&
                      Tss2_MU_TPMT_PUBLIC_Unmarshal(contents.data(), contents.size(), &offset,
                                                    &pub) == TSS2_RC_SUCCESS;
  const ByteSpan rest = parsed ? contents.subspan(offset) : ByteSpan();
  if (!parsed || !(AllBytesAre(rest, 0x00) || AllBytesAre(rest, 0xff))) {
    return TpmError(absl::StrFormat(
        "NV index 0x%08x (the %s EK template) does not hold a TPMT_PUBLIC (%u bytes)",
        profile.template_index, profile.name, contents.size()));
  }
  TPMJOIN_RETURN_IF_ERROR(CheckNvEkTemplate(profile, pub));
  return pub;
}

absl::StatusOr<TPMT_PUBLIC> EkCreationTemplate(ESYS_CONTEXT* esys, const EkProfile& profile,
                                               const std::vector<TPM2_HANDLE>& nv_handles,
                                               absl::string_view owner_auth) {
  TPMT_PUBLIC pub = profile.make_template();
  if (Listed(nv_handles, profile.template_index)) {
    TPMJOIN_ASSIGN_OR_RETURN(std::optional<Bytes> contents,
                             ReadWholeIndex(esys, profile.template_index, owner_auth));
    if (contents) {
      TPMJOIN_ASSIGN_OR_RETURN(pub, ParseNvEkTemplate(*contents, profile));
    }
  }
  if (Listed(nv_handles, profile.nonce_index)) {
    TPMJOIN_ASSIGN_OR_RETURN(std::optional<Bytes> nonce,
                             ReadWholeIndex(esys, profile.nonce_index, owner_auth));
    if (nonce && !ApplyEkNonce(*nonce, &pub)) {
      return TpmError(absl::StrFormat(
          "the EK nonce in NV index 0x%08x is %u bytes, more than the %s EK's unique field "
          "holds",
          profile.nonce_index, nonce->size(), profile.name));
    }
  }
  return pub;
}

}  // namespace tpmjoin::agent
