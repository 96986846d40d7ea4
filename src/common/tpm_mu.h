// Strict (un)marshaling of TPM structures with tss2-mu.
//
// Unmarshal<T>() accepts exactly one T in canonical form: sizes inside are
// bounds-checked by tss2-mu, bytes left over after the structure are an
// error, and the parsed value must marshal back to exactly the input (tss2-mu
// alone accepts some encodings it would never produce, e.g. a TPM2B_PUBLIC
// of size 0; found by fuzz/fuzz_tpm_structures). Every structure that
// arrives from the network goes through here.
#ifndef TPMJOIN_SRC_COMMON_TPM_MU_H_
#define TPMJOIN_SRC_COMMON_TPM_MU_H_

#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include <algorithm>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "src/common/bytes.h"
#include "src/common/errors.h"

namespace tpmjoin {

template <typename T>
struct Mu;

#define TPMJOIN_DEFINE_MU(TYPE)                                   \
  template <>                                                     \
  struct Mu<TYPE> {                                               \
    static constexpr const char* kName = #TYPE;                   \
    static constexpr auto Marshal = Tss2_MU_##TYPE##_Marshal;     \
    static constexpr auto Unmarshal = Tss2_MU_##TYPE##_Unmarshal; \
  };

TPMJOIN_DEFINE_MU(TPMT_PUBLIC)
TPMJOIN_DEFINE_MU(TPM2B_PUBLIC)
TPMJOIN_DEFINE_MU(TPMS_CREATION_DATA)
TPMJOIN_DEFINE_MU(TPMS_ATTEST)
TPMJOIN_DEFINE_MU(TPMT_SIGNATURE)
TPMJOIN_DEFINE_MU(TPM2B_ID_OBJECT)
TPMJOIN_DEFINE_MU(TPM2B_ENCRYPTED_SECRET)
TPMJOIN_DEFINE_MU(TPM2B_DIGEST)
TPMJOIN_DEFINE_MU(TPM2B_PRIVATE)
TPMJOIN_DEFINE_MU(TPMS_ECC_POINT)
TPMJOIN_DEFINE_MU(TPMT_TK_CREATION)
TPMJOIN_DEFINE_MU(TPM2B_NAME)

#undef TPMJOIN_DEFINE_MU

// Parses exactly one T from `data`. Errors are BAD_MESSAGE naming the
// structure (and `what`, the field it came from).
template <typename T>
absl::StatusOr<T> Unmarshal(ByteSpan data, absl::string_view what) {
  T out{};
  if (data.empty()) {
    // (tss2-mu would log an error for the NULL buffer of an empty span.)
    return BadMessageError(absl::StrCat(what, ": empty, want a ", Mu<T>::kName));
  }
  size_t offset = 0;
  const TSS2_RC rc = Mu<T>::Unmarshal(data.data(), data.size(), &offset, &out);
  if (rc != TSS2_RC_SUCCESS) {
    return BadMessageError(absl::StrCat(what, ": not a valid ", Mu<T>::kName, " (",
                                        data.size(), " bytes)"));
  }
  if (offset != data.size()) {
    return BadMessageError(absl::StrCat(what, ": ", data.size() - offset,
                                        " trailing bytes after ", Mu<T>::kName));
  }
  uint8_t again[sizeof(T) + 16];
  size_t again_len = 0;
  if (Mu<T>::Marshal(&out, again, sizeof(again), &again_len) != TSS2_RC_SUCCESS ||
      again_len != data.size() || !std::equal(data.begin(), data.end(), again)) {
    return BadMessageError(
        absl::StrCat(what, ": ", Mu<T>::kName, " is not in canonical form"));
  }
  return out;
}

// Serializes a T. Fails (INTERNAL) only on a structure tss2-mu rejects.
template <typename T>
absl::StatusOr<Bytes> Marshal(const T& value) {
  Bytes out(sizeof(T) + 16);
  size_t offset = 0;
  const TSS2_RC rc = Mu<T>::Marshal(&value, out.data(), out.size(), &offset);
  if (rc != TSS2_RC_SUCCESS) {
    return InternalError(absl::StrCat("cannot marshal ", Mu<T>::kName));
  }
  out.resize(offset);
  return out;
}

}  // namespace tpmjoin

#endif  // TPMJOIN_SRC_COMMON_TPM_MU_H_
