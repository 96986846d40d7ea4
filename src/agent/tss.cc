#include "src/agent/tss.h"

#include <tss2/tss2_rc.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_sys.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

constexpr TSS2_RC kLayerMask = TSS2_RC_LAYER_MASK;

TSS2_RC BaseRc(TSS2_RC rc) { return rc & ~kLayerMask & 0xffff; }

// Format-one response codes carry a handle/parameter/session number in
// bits 8-11; the error itself is bits 0-5 plus the format bit.
TSS2_RC Format1Error(TSS2_RC rc) { return (rc & TPM2_RC_FMT1) ? (rc & 0xbf) : 0; }

std::string Hint(TSS2_RC rc) {
  const TSS2_RC tpm_rc = rc & 0xffff;
  if (IsTpmRetry(rc)) {
    return " The TPM stayed busy through every retry (about 5 s of backoff); try again "
           "later.";
  }
  if (tpm_rc == TPM2_RC_LOCKOUT) {
    return " The TPM is in dictionary-attack lockout: wait for the lockout interval to pass, "
           "or reset it with the lockout hierarchy (tpm2_dictionarylockout --clear-lockout).";
  }
  const TSS2_RC f1 = Format1Error(rc);
  if (f1 == TPM2_RC_AUTH_FAIL || f1 == TPM2_RC_BAD_AUTH) {
    return " An authorization value is wrong: check the hierarchy passwords in the config "
           "(endorsement_auth for the EK, owner_auth for the owner hierarchy and NV).";
  }
  if (tpm_rc == TPM2_RC_OBJECT_MEMORY || tpm_rc == TPM2_RC_SESSION_MEMORY) {
    return " The TPM has no free slot: another program left objects loaded "
           "(use the resource manager /dev/tpmrm0, or flush them with tpm2_flushcontext).";
  }
  if (f1 == TPM2_RC_HIERARCHY) {
    return " The hierarchy is disabled.";
  }
  return "";
}

}  // namespace

bool IsTpmRetry(TSS2_RC rc) {
  // TPM format-zero warnings, reported by the TPM itself (layer 0).
  return rc == TPM2_RC_RETRY || rc == TPM2_RC_YIELDED || rc == TPM2_RC_TESTING;
}

bool IsConnectionLost(TSS2_RC rc) {
  const TSS2_RC layer = rc & kLayerMask;
  if (layer == TSS2_TPM_RC_LAYER) return false;
  const TSS2_RC base = BaseRc(rc);
  return base == TSS2_BASE_RC_IO_ERROR || base == TSS2_BASE_RC_NO_CONNECTION ||
         base == TSS2_BASE_RC_MALFORMED_RESPONSE ||
         base == TSS2_BASE_RC_INSUFFICIENT_RESPONSE ||
         (layer == TSS2_TCTI_RC_LAYER && base == TSS2_BASE_RC_GENERAL_FAILURE);
}

bool IsHandleMissing(TSS2_RC rc) {
  if ((rc & kLayerMask) != 0) return false;
  return Format1Error(rc) == TPM2_RC_HANDLE;
}

bool IsParameterError(TSS2_RC rc) {
  return (rc & kLayerMask) == 0 && (rc & TPM2_RC_FMT1) != 0 && (rc & TPM2_RC_P) != 0;
}

bool IsContextUnusable(TSS2_RC rc) {
  return rc == TSS2_ESYS_RC_RSP_AUTH_FAILED || rc == TSS2_ESYS_RC_BAD_SEQUENCE;
}

absl::Status TssError(absl::string_view command, TSS2_RC rc) {
  const std::string decoded = Tss2_RC_Decode(rc);
  if (IsConnectionLost(rc)) {
    return TpmUnavailableError(absl::StrFormat(
        "%s: lost the connection to the TPM (%s, 0x%x); check that the TPM (or swtpm) is "
        "running and reachable through the configured TCTI",
        command, decoded, rc));
  }
  if (rc == TSS2_ESYS_RC_RSP_AUTH_FAILED) {
    return TpmUnavailableError(absl::StrFormat(
        "%s: the TPM's response failed its integrity check (%s, 0x%x): something between "
        "this process and the TPM altered it. The connection can no longer be used: close "
        "the session and open a new one",
        command, decoded, rc));
  }
  if (rc == TSS2_ESYS_RC_BAD_SEQUENCE) {
    return TpmUnavailableError(absl::StrFormat(
        "%s: ESAPI refuses further commands after an earlier failure on this connection "
        "(%s, 0x%x): close the session and open a new one",
        command, decoded, rc));
  }
  return TpmError(absl::StrFormat("%s failed: %s (0x%x).%s", command, decoded, rc, Hint(rc)));
}

absl::StatusOr<std::unique_ptr<TpmConnection>> TpmConnection::Open(const std::string& tcti) {
  TSS2_TCTI_CONTEXT* tcti_ctx = nullptr;
  TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &tcti_ctx);
  if (rc != TSS2_RC_SUCCESS) {
    return TpmUnavailableError(absl::StrFormat(
        "cannot connect to the TPM through TCTI \"%s\": %s (0x%x). Is the TPM present "
        "(/dev/tpmrm0 readable by this user) or swtpm running? Set \"tcti\" in the config "
        "or $TPM2TOOLS_TCTI.",
        tcti, Tss2_RC_Decode(rc), rc));
  }
  ESYS_CONTEXT* esys = nullptr;
  rc = Esys_Initialize(&esys, tcti_ctx, nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    Tss2_TctiLdr_Finalize(&tcti_ctx);
    return TpmUnavailableError(absl::StrFormat("Esys_Initialize failed: %s (0x%x)",
                                               Tss2_RC_Decode(rc), rc));
  }
  return std::unique_ptr<TpmConnection>(new TpmConnection(tcti_ctx, esys));
}

TpmConnection::~TpmConnection() {
  // ESAPI keeps the hierarchy passwords it was given; overwrite them before
  // it frees its memory.
  for (ESYS_TR hierarchy : {ESYS_TR_RH_OWNER, ESYS_TR_RH_ENDORSEMENT}) {
    (void)SetAuth(esys_, hierarchy, "");
  }
  Esys_Finalize(&esys_);
  Tss2_TctiLdr_Finalize(&tcti_);
}

namespace {

// TPM2_FlushContext of `tr`'s TPM handle through the SAPI context under
// ESAPI, for when ESAPI itself refuses commands. SAPI completed the last
// exchange when only ESAPI's own response checks failed, so it can still
// send one.
TSS2_RC FlushThroughSapi(ESYS_CONTEXT* esys, ESYS_TR tr) {
  TPM2_HANDLE handle = 0;
  TSS2_SYS_CONTEXT* sys = nullptr;
  TSS2_RC rc = Esys_TR_GetTpmHandle(esys, tr, &handle);
  if (rc == TSS2_RC_SUCCESS) rc = Esys_GetSysContext(esys, &sys);
  if (rc != TSS2_RC_SUCCESS) return rc;
  return WithRetry([&] { return Tss2_Sys_FlushContext(sys, handle); });
}

}  // namespace

absl::Span<uint8_t> LastResponseParameters(ESYS_CONTEXT* esys) {
  TSS2_SYS_CONTEXT* sys = nullptr;
  size_t size = 0;
  const uint8_t* parameters = nullptr;
  if (Esys_GetSysContext(esys, &sys) != TSS2_RC_SUCCESS || sys == nullptr ||
      Tss2_Sys_GetRpBuffer(sys, &size, &parameters) != TSS2_RC_SUCCESS ||
      parameters == nullptr) {
    return {};
  }
  // The buffer is SAPI's own (the const is its API's, not the memory's).
  return absl::Span<uint8_t>(const_cast<uint8_t*>(parameters), size);
}

void FlushObjectOfRejectedResponse(ESYS_CONTEXT* esys, TSS2_RC rc) {
  const TSS2_RC layer = rc & kLayerMask;
  const TSS2_RC base = BaseRc(rc);
  if ((layer != TSS2_ESAPI_RC_LAYER && layer != TSS2_SYS_RC_LAYER) ||
      base == TSS2_BASE_RC_IO_ERROR || base == TSS2_BASE_RC_NO_CONNECTION) {
    return;
  }
  const absl::Span<uint8_t> parameters = LastResponseParameters(esys);
  TSS2_SYS_CONTEXT* sys = nullptr;
  if (parameters.data() == nullptr || Esys_GetSysContext(esys, &sys) != TSS2_RC_SUCCESS) return;
  // A response with sessions: header (10 bytes), the object's handle,
  // parameterSize (4), parameters. Both commands return exactly one handle.
  size_t offset = 0;
  TPM2_HANDLE handle = 0;
  if (Tss2_MU_UINT32_Unmarshal(parameters.data() - 8, 4, &offset, &handle) != TSS2_RC_SUCCESS ||
      (handle >> TPM2_HR_SHIFT) != TPM2_HT_TRANSIENT) {
    return;
  }
  (void)WithRetry([&] { return Tss2_Sys_FlushContext(sys, handle); });
}

TSS2_RC TpmHandle::Flush() {
  if (tr_ == ESYS_TR_NONE || esys_ == nullptr) return TSS2_RC_SUCCESS;
  TSS2_RC rc = TSS2_RC_SUCCESS;
  bool esys_forgot = false;  // a successful Esys_FlushContext drops the metadata
  if (kind_ == Kind::kFlush) {
    rc = WithRetry([&] { return Esys_FlushContext(esys_, tr_); });
    // The TPM refused the flush (WithRetry already waited out RETRY and the
    // like): one more try, or the object stays loaded in a TPM that has no
    // resource manager. ESAPI keeps the handle after a TPM error.
    if ((rc & kLayerMask) == TSS2_TPM_RC_LAYER && rc != TSS2_RC_SUCCESS &&
        !IsHandleMissing(rc)) {
      rc = WithRetry([&] { return Esys_FlushContext(esys_, tr_); });
    }
    esys_forgot = rc == TSS2_RC_SUCCESS;
    if (rc == TSS2_ESYS_RC_BAD_SEQUENCE) {
      const TSS2_RC raw = FlushThroughSapi(esys_, tr_);
      // A session the TPM already closed is gone either way.
      if (raw == TSS2_RC_SUCCESS || IsHandleMissing(raw)) rc = TSS2_RC_SUCCESS;
    }
  }
  // Otherwise ESAPI still holds the metadata: release it so nothing leaks on
  // our side.
  if (!esys_forgot) Esys_TR_Close(esys_, &tr_);
  tr_ = ESYS_TR_NONE;
  return rc;
}

absl::Status SetAuth(ESYS_CONTEXT* esys, ESYS_TR tr, absl::string_view auth) {
  TPM2B_AUTH value = {};
  if (auth.size() > sizeof(value.buffer)) {
    return InvalidArgumentError("authorization value is too long");
  }
  value.size = static_cast<UINT16>(auth.size());
  std::memcpy(value.buffer, auth.data(), auth.size());
  const TSS2_RC rc = Esys_TR_SetAuth(esys, tr, &value);
  OPENSSL_cleanse(&value, sizeof(value));
  if (rc != TSS2_RC_SUCCESS) return TssError("Esys_TR_SetAuth", rc);
  return absl::OkStatus();
}

}  // namespace tpmjoin::agent
