// The EK of an init request: parsed from ek_cert (preferred) or ek_key,
// limited to the key types the TCG EK profile defines, and - when the
// policy lists CAs - its certificate checked against them.
#ifndef TPMJOIN_SRC_VERIFIER_EK_VALIDATION_H_
#define TPMJOIN_SRC_VERIFIER_EK_VALIDATION_H_

#include <ctime>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "abi/tpmjoin.pb.h"
#include "src/common/bytes.h"
#include "src/common/ek_cert.h"
#include "src/common/keys.h"
#include "src/common/ossl.h"
#include "src/verifier/cert_chain.h"
#include "src/verifier/ek_profile.h"

namespace tpmjoin::verifier {

struct Ek {
  EkPublic pub;                  // key, PKIX DER, hash, key type
  EkProfile profile;             // MakeCredential's algorithms for this key
  X509Ptr cert;                  // null when the request carried ek_key
  std::optional<Bytes> serial;   // CertificateSerialBytes; nullopt without cert
  std::string serial_text;       // "04:c0:1d"; "" without cert
  TcgDeviceInfo device;          // from the certificate's subjectAltName
};

// Parses the EK of `init`, structure only (no verdict, so that a malformed
// request is BAD_MESSAGE whatever a later check would say). ek_cert: DER,
// also as stored in TPM NV (TCG header, padding after the DER), like
// go-attestation's ParseEKCertificate. ek_key: exactly one
// SubjectPublicKeyInfo DER. BAD_MESSAGE for garbage or neither field.
// `profile` is left unset: VerifyEk sets it.
absl::StatusOr<Ek> ParseEk(const v1::RegisterUsingTPMMethodInitialRequest& init);

// The verdicts on a parsed EK, in order: its key must be one the TCG EK
// profile defines (sets ek->profile); with `chain` (the policy lists CAs)
// it must come with a certificate that chains to one of them, valid at
// `at`. DENIED otherwise. Returns when the verified path stays valid
// (unbounded without `chain`).
absl::StatusOr<ValidityWindow> VerifyEk(Ek* ek, const CertChainVerifier* chain, time_t at);

}  // namespace tpmjoin::verifier

#endif  // TPMJOIN_SRC_VERIFIER_EK_VALIDATION_H_
