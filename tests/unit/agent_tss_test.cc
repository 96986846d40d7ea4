#include <gtest/gtest.h>

#include "src/agent/tpm_info.h"
#include "src/agent/tss.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

TEST(TssError, ConnectionErrorsAreTpmUnavailable) {
  for (TSS2_RC rc : {TSS2_TCTI_RC_IO_ERROR, TSS2_TCTI_RC_NO_CONNECTION,
                     TSS2_SYS_RC_MALFORMED_RESPONSE, TSS2_SYS_RC_INSUFFICIENT_RESPONSE}) {
    EXPECT_TRUE(IsConnectionLost(rc)) << std::hex << rc;
    const absl::Status s = TssError("TPM2_X", rc);
    EXPECT_EQ(AbiCodeOf(s), AbiCode::kTpmUnavailable) << s;
    EXPECT_NE(s.message().find("TPM2_X: lost the connection"), absl::string_view::npos) << s;
  }
}

TEST(TssError, ResponsesThatFailTheirChecksMakeTheConnectionUnusable) {
  // After either, ESAPI 3.x refuses every later command on the context.
  for (TSS2_RC rc : {TSS2_ESYS_RC_RSP_AUTH_FAILED, TSS2_ESYS_RC_BAD_SEQUENCE}) {
    EXPECT_TRUE(IsContextUnusable(rc)) << std::hex << rc;
    const absl::Status s = TssError("TPM2_ActivateCredential", rc);
    EXPECT_EQ(AbiCodeOf(s), AbiCode::kTpmUnavailable) << s;
    EXPECT_NE(s.message().find("close the session and open a new one"), absl::string_view::npos)
        << s;
  }
  EXPECT_NE(TssError("TPM2_X", TSS2_ESYS_RC_RSP_AUTH_FAILED).message().find("integrity check"),
            absl::string_view::npos);
  // Argument errors ESAPI finds before sending leave the context usable.
  for (TSS2_RC rc : {TSS2_ESYS_RC_BAD_VALUE, TSS2_ESYS_RC_BAD_REFERENCE, 0x1dfu}) {
    EXPECT_FALSE(IsContextUnusable(rc)) << std::hex << rc;
  }
}

TEST(TssError, TpmResponseCodesAreTpmErrorsWithDecodedText) {
  const absl::Status s = TssError("TPM2_ActivateCredential", 0x1df);  // integrity, param 1
  EXPECT_EQ(AbiCodeOf(s), AbiCode::kTpm);
  EXPECT_NE(s.message().find("TPM2_ActivateCredential failed:"), absl::string_view::npos);
  EXPECT_NE(s.message().find("integrity check failed"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("0x1df"), absl::string_view::npos);
}

TEST(TssError, LockoutAndAuthFailuresSayWhatToDo) {
  const absl::Status lockout = TssError("TPM2_PolicySecret", TPM2_RC_LOCKOUT);
  EXPECT_NE(lockout.message().find("dictionary-attack lockout"), absl::string_view::npos);
  // TPM_RC_AUTH_FAIL on session 1 (0x98e) and TPM_RC_BAD_AUTH (0x9a2).
  for (TSS2_RC rc : {0x98eu, 0x9a2u}) {
    const absl::Status s = TssError("TPM2_CreatePrimary", rc);
    EXPECT_NE(s.message().find("endorsement_auth"), absl::string_view::npos) << s;
    EXPECT_NE(s.message().find("owner_auth"), absl::string_view::npos) << s;
  }
  const absl::Status memory = TssError("TPM2_Load", TPM2_RC_OBJECT_MEMORY);
  EXPECT_NE(memory.message().find("no free slot"), absl::string_view::npos);
}

TEST(TssError, HandleMissingOnlyForTpmHandleErrors) {
  EXPECT_TRUE(IsHandleMissing(0x18b));   // TPM_RC_HANDLE, handle 1
  EXPECT_FALSE(IsHandleMissing(0x1df));  // integrity
  EXPECT_FALSE(IsHandleMissing(TSS2_TCTI_RC_IO_ERROR));
  EXPECT_FALSE(IsHandleMissing(TSS2_ESYS_RC_BAD_VALUE | 0x8b));
}

TEST(TssRetry, RetriesRetryYieldedTestingThenGivesUp) {
  int calls = 0;
  EXPECT_EQ(WithRetry([&] { return ++calls < 3 ? TPM2_RC_RETRY : TSS2_RC_SUCCESS; }),
            TSS2_RC_SUCCESS);
  EXPECT_EQ(calls, 3);
  calls = 0;
  EXPECT_EQ(WithRetry([&] { return ++calls < 2 ? TPM2_RC_YIELDED : TPM2_RC_TESTING * 0; }), 0u);
  calls = 0;
  EXPECT_EQ(WithRetry([&] {
              ++calls;
              return TPM2_RC_INTEGRITY;
            }),
            TPM2_RC_INTEGRITY);
  EXPECT_EQ(calls, 1) << "non-retryable codes are returned at once";
}

TEST(TpmInfo, PropertyTextIsPrintable) {
  EXPECT_EQ(PropertyText(0x49424d00), "IBM");
  EXPECT_EQ(PropertyText(0x53572020), "SW");
  EXPECT_EQ(PropertyText(0x2054504d), " TPM");
  EXPECT_EQ(PropertyText(0x41ff4200), "A?B");
  EXPECT_EQ(PropertyText(0), "");
}

}  // namespace
}  // namespace tpmjoin::agent
