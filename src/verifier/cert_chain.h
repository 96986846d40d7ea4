// EK certificate path validation against the policy's trust anchors.
//
// Every listed CA is a trust anchor (X509_V_FLAG_PARTIAL_CHAIN), so the
// issuing CA alone suffices, as in Teleport; untrusted intermediates help to
// build the path. Two kinds of real EK certificates need more than
// X509_verify_cert:
//  - TPM 1.2 era EK certificates carry an id-RSAES-OAEP SubjectPublicKeyInfo
//    that OpenSSL cannot decode, and OpenSSL's chain builder gives up on a
//    leaf whose key it cannot decode. Their first link is checked here by
//    hand (issuer lookup, signature, validity, critical extensions) and the
//    issuer's own path with X509_verify_cert.
//  - Infineon's TPM 1.2 EK and intermediate certificates name their issuer
//    in the AuthorityKeyIdentifier by issuer name and serial of a
//    certificate that is not published; only another certificate for the
//    same name and key is (a cross-signed root, a re-issued intermediate).
//    See IssuedDespiteAkidCertificateReference in the .cc.
#ifndef TPMJOIN_SRC_VERIFIER_CERT_CHAIN_H_
#define TPMJOIN_SRC_VERIFIER_CERT_CHAIN_H_

#include <ctime>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/common/ossl.h"

namespace tpmjoin::verifier {

// When a verified path stays valid: [not_before, not_after) over all its
// certificates.
struct ValidityWindow {
  time_t not_before = std::numeric_limits<time_t>::min();
  time_t not_after = std::numeric_limits<time_t>::max();

  bool Contains(time_t t) const { return not_before <= t && t < not_after; }
  // Narrows the window to `cert`'s validity period.
  void Intersect(X509* cert);
};

// Immutable after New; Verify may run on many threads at once.
class CertChainVerifier {
 public:
  // INVALID_ARGUMENT when `anchors` is empty.
  static absl::StatusOr<CertChainVerifier> New(std::vector<X509Ptr> anchors,
                                               std::vector<X509Ptr> intermediates);

  CertChainVerifier(CertChainVerifier&&) = default;
  CertChainVerifier& operator=(CertChainVerifier&&) = default;

  // When `leaf` chains to an anchor and every certificate on the path is
  // valid at `at`: the period in which the whole path is valid. DENIED
  // saying which certificate failed and why.
  absl::StatusOr<ValidityWindow> Verify(X509* leaf, time_t at) const;

 private:
  CertChainVerifier(X509StorePtr store, X509StackPtr anchors, X509StackPtr intermediates)
      : store_(std::move(store)),
        anchors_(std::move(anchors)),
        intermediates_(std::move(intermediates)) {}

  // X509_verify_cert on `cert`, which sits at `depth` below the EK
  // certificate (for messages); on success returns the chain it built.
  absl::StatusOr<X509StackPtr> VerifyWithOpenssl(X509* cert, time_t at, int depth) const;
  // The path of a leaf whose public key OpenSSL cannot decode.
  absl::StatusOr<ValidityWindow> VerifyUndecodableLeaf(X509* leaf, time_t at) const;
  absl::StatusOr<ValidityWindow> VerifyUndecodableLeafVia(X509* leaf, X509* issuer,
                                                          time_t at) const;

  X509StorePtr store_;  // holds no certificates, only the check_issued hook
  X509StackPtr anchors_;
  X509StackPtr intermediates_;
};

}  // namespace tpmjoin::verifier

#endif  // TPMJOIN_SRC_VERIFIER_CERT_CHAIN_H_
