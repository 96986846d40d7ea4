// Owners and error handling for tpm2-tss ESAPI: the TCTI and ESYS_CONTEXT,
// every transient object and session (flushed when its owner goes), every
// buffer ESAPI returns (Esys_Free), and TSS2_RC -> absl::Status with the
// failing command's name and Tss2_RC_Decode text.
#ifndef TPMJOIN_SRC_AGENT_TSS_H_
#define TPMJOIN_SRC_AGENT_TSS_H_

#include <openssl/crypto.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tpmjoin::agent {

// Frees ESAPI outputs.
struct EsysFree {
  void operator()(void* p) const { Esys_Free(p); }
};
template <typename T>
using EsysPtr = std::unique_ptr<T, EsysFree>;

// Frees ESAPI outputs that hold secrets, wiping them first.
struct EsysFreeSecret {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) OPENSSL_cleanse(p, sizeof(T));
    Esys_Free(p);
  }
};
template <typename T>
using EsysSecretPtr = std::unique_ptr<T, EsysFreeSecret>;

// The TPM asked us to try again later (TPM_RC_RETRY, _YIELDED, _TESTING).
bool IsTpmRetry(TSS2_RC rc);

// The TPM cannot be reached: the TCTI could not connect or lost the
// connection.
bool IsConnectionLost(TSS2_RC rc);

// The handle does not exist in the TPM (TPM_RC_HANDLE on a handle).
bool IsHandleMissing(TSS2_RC rc);

// The TPM refused one of the command's parameters (a format-one response
// code with TPM_RC_P set: TPM_RC_INTEGRITY, _SIZE, _KEY, _VALUE, ...).
bool IsParameterError(TSS2_RC rc);

// ESAPI will refuse every later command on this context: a response failed
// its integrity check (TSS2_ESYS_RC_RSP_AUTH_FAILED), or an earlier failure
// already left it so (TSS2_ESYS_RC_BAD_SEQUENCE). Any non-TPM error after a
// command was sent does that to an ESAPI 3.x context.
bool IsContextUnusable(TSS2_RC rc);

// `command` failed with `rc`: TPM_UNAVAILABLE for connection errors and
// for a context ESAPI will no longer use, else TPM with the decoded
// response code and, for lockout and authorization failures, what to do
// about them.
absl::Status TssError(absl::string_view command, TSS2_RC rc);

// Runs `call` (returning TSS2_RC) again while the TPM answers RETRY,
// YIELDED or TESTING, with exponential backoff bounded in total to about
// five seconds. (ESAPI itself first resubmits a few times without delay.)
template <typename Call>
TSS2_RC WithRetry(Call&& call) {
  using std::chrono::milliseconds;
  constexpr milliseconds kMaxDelay(500);
  constexpr milliseconds kMaxTotal(5000);
  milliseconds delay(20);
  milliseconds waited(0);
  for (;;) {
    const TSS2_RC rc = call();
    if (!IsTpmRetry(rc) || waited >= kMaxTotal) return rc;
    std::this_thread::sleep_for(delay);
    waited += delay;
    delay = std::min(delay * 2, kMaxDelay);
  }
}

// A connection to one TPM: the TCTI (from a tpm2-tools style string) and
// the ESAPI context over it.
class TpmConnection {
 public:
  // TPM_UNAVAILABLE when the TCTI cannot be loaded or cannot connect.
  static absl::StatusOr<std::unique_ptr<TpmConnection>> Open(const std::string& tcti);
  ~TpmConnection();
  TpmConnection(const TpmConnection&) = delete;
  TpmConnection& operator=(const TpmConnection&) = delete;

  ESYS_CONTEXT* esys() const { return esys_; }

 private:
  TpmConnection(TSS2_TCTI_CONTEXT* tcti, ESYS_CONTEXT* esys) : tcti_(tcti), esys_(esys) {}
  TSS2_TCTI_CONTEXT* tcti_;
  ESYS_CONTEXT* esys_;
};

// Owner of one ESYS_TR. Transient objects and sessions are flushed from
// the TPM on destruction; persistent objects and NV indices are only
// forgotten by ESAPI (Esys_TR_Close), never evicted.
class TpmHandle {
 public:
  enum class Kind { kFlush, kClose };

  TpmHandle() = default;
  TpmHandle(ESYS_CONTEXT* esys, ESYS_TR tr, Kind kind) : esys_(esys), tr_(tr), kind_(kind) {}
  ~TpmHandle() { Reset(); }
  TpmHandle(TpmHandle&& other) noexcept { *this = std::move(other); }
  TpmHandle& operator=(TpmHandle&& other) noexcept {
    if (this != &other) {
      Reset();
      esys_ = other.esys_;
      tr_ = std::exchange(other.tr_, ESYS_TR_NONE);
      kind_ = other.kind_;
    }
    return *this;
  }
  TpmHandle(const TpmHandle&) = delete;
  TpmHandle& operator=(const TpmHandle&) = delete;

  ESYS_TR get() const { return tr_; }
  bool valid() const { return tr_ != ESYS_TR_NONE; }
  bool flushes() const { return kind_ == Kind::kFlush; }

  // Gives up ownership without touching the TPM, for a session the TPM
  // already closed (used without continueSession).
  void Forget() { tr_ = ESYS_TR_NONE; }

  // Flushes (or closes) now. When ESAPI refuses (its context is unusable
  // after an earlier failure), flushes the TPM handle through ESAPI's SAPI
  // context instead, so the object does not stay loaded in a TPM without a
  // resource manager. Returns the flush's response code (success for
  // handles that are only closed).
  TSS2_RC Flush();
  void Reset() { (void)Flush(); }

 private:
  ESYS_CONTEXT* esys_ = nullptr;
  ESYS_TR tr_ = ESYS_TR_NONE;
  Kind kind_ = Kind::kFlush;
};

// The parameter area of the last response SAPI received under ESAPI (the
// memory is SAPI's, valid until the next command); empty when SAPI holds no
// whole, successful response.
absl::Span<uint8_t> LastResponseParameters(ESYS_CONTEXT* esys);

// After ESAPI rejected the response to a command that loads an object
// (TPM2_CreatePrimary, TPM2_Load) in its own checks (`rc` from the ESAPI or
// SAPI layer: the response's session area or name did not check out), the
// TPM made the object but ESAPI returns no ESYS_TR for it. Flushes it
// through SAPI, whose buffer still holds the response, so that it does not
// stay loaded in a TPM without a resource manager. Does nothing for other
// `rc`s (a TPM error: no object; a lost connection: no response).
void FlushObjectOfRejectedResponse(ESYS_CONTEXT* esys, TSS2_RC rc);

// Sets the authValue ESAPI uses for `tr` (e.g. a hierarchy password).
absl::Status SetAuth(ESYS_CONTEXT* esys, ESYS_TR tr, absl::string_view auth);

}  // namespace tpmjoin::agent

#endif  // TPMJOIN_SRC_AGENT_TSS_H_
