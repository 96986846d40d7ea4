// tpmjoin_ek_info: describes an EK certificate or EK public key so that an
// operator can write an allow rule from a file.
#ifndef TPMJOIN_SRC_VERIFIER_EK_INFO_H_
#define TPMJOIN_SRC_VERIFIER_EK_INFO_H_

#include <string>

#include "absl/status/statusor.h"
#include "src/common/bytes.h"

namespace tpmjoin::verifier {

// `data`: an X.509 certificate (DER, PEM, or raw TPM NV contents: TCG
// header and/or padding; or the JSON of Intel's EK certificate service,
// {"pubhash": ..., "certificate": "<URL-safe base64 DER>"}) or a
// SubjectPublicKeyInfo (DER or PEM). Returns a
// JSON object: ek_pub_hash, ek_cert_present, ek_cert_serial, key_type,
// tpm_manufacturer, tpm_model, tpm_version, issuer, subject, not_before,
// not_after, ek_pub_pem (certificate fields "" for a bare key).
// INVALID_ARGUMENT when `data` is neither.
absl::StatusOr<std::string> DescribeEk(ByteSpan data);

}  // namespace tpmjoin::verifier

#endif  // TPMJOIN_SRC_VERIFIER_EK_INFO_H_
