#include "src/verifier/cert_chain.h"

#include <algorithm>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "src/common/ek_cert.h"
#include "src/common/errors.h"

namespace tpmjoin::verifier {
namespace {

X509StackPtr ToStack(std::vector<X509Ptr> certs) {
  X509StackPtr stack(sk_X509_new_null());
  if (!stack) return nullptr;
  for (X509Ptr& cert : certs) {
    // Compute the cached extension data now, so that concurrent verifications
    // only ever read these objects.
    X509_check_purpose(cert.get(), -1, 0);
    if (sk_X509_push(stack.get(), cert.get()) <= 0) return nullptr;
    cert.release();
  }
  return stack;
}

// `issuer` certified `subject` even though subject's AuthorityKeyIdentifier
// names a different certificate of the issuing key by authorityCertIssuer +
// authorityCertSerialNumber (X509_check_issued: AKID_ISSUER_SERIAL_MISMATCH).
//
// Infineon's TPM 1.2 intermediates ("IFX TPM EK Intermediate CA 05/08") say
// they were issued by serial 03 of the self-signed "IFX TPM EK Root CA";
// that certificate is not published, only a VeriSign cross-certificate with
// the same subject and key. Likewise their EK certificates name intermediate
// serials (e.g. 08:68:1e:16) other than the published intermediates'
// (7c:6a:18:ea): the CA was re-certified with the same key.
//
// Accepting the certificate that is available is safe because the AKID is
// only a hint for finding the issuer's key (RFC 5280 4.2.1.1), not a trust
// statement: we still require the keyIdentifier to be present
// and equal to the candidate's subjectKeyIdentifier, the names to chain
// (checked by X509_check_issued before the AKID), the candidate to be
// allowed to sign certificates, and - what actually carries the trust - the
// subject's signature to verify with the candidate's public key. Whoever
// signed the subject holds the candidate's key; the mismatching serial only
// names another certificate for that same key and name. The candidate must
// itself still chain to a listed trust anchor with all the usual checks.
bool IssuedDespiteAkidCertificateReference(X509* issuer, X509* subject) {
  const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(subject);
  const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(issuer);
  if (akid == nullptr || skid == nullptr || ASN1_OCTET_STRING_cmp(akid, skid) != 0) return false;
  if ((X509_get_key_usage(issuer) & KU_KEY_CERT_SIGN) == 0) return false;
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  const bool ok = key != nullptr && X509_verify(subject, key) == 1;
  ERR_clear_error();
  return ok;
}

// X509_check_issued, plus the AKID relaxation above.
bool Issued(X509* issuer, X509* subject) {
  const int result = X509_check_issued(issuer, subject);
  if (result == X509_V_OK) return true;
  if (result == X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH) {
    return IssuedDespiteAkidCertificateReference(issuer, subject);
  }
  return false;
}

int CheckIssuedHook(X509_STORE_CTX* /*ctx*/, X509* subject, X509* issuer) {
  return Issued(issuer, subject) ? 1 : 0;
}

std::string Describe(X509* cert, int depth) {
  std::string subject = NameToString(X509_get_subject_name(cert));
  if (depth == 0) {
    return subject.empty() ? "the EK certificate"
                           : absl::StrCat("the EK certificate (\"", subject, "\")");
  }
  return absl::StrCat("CA certificate \"", subject, "\" (depth ", depth, ")");
}

absl::Status ValidityError(int error, X509* cert, int depth) {
  if (error == X509_V_ERR_CERT_HAS_EXPIRED) {
    return DeniedError(absl::StrCat(Describe(cert, depth), " expired at ",
                                    TimeToString(X509_get0_notAfter(cert))));
  }
  return DeniedError(absl::StrCat(Describe(cert, depth), " is not valid before ",
                                  TimeToString(X509_get0_notBefore(cert))));
}

absl::Status NoIssuerError(X509* cert, int depth) {
  return DeniedError(absl::StrCat("EK certificate does not chain to any of ekcert_allowed_cas: "
                                  "no listed CA or intermediate issued ",
                                  Describe(cert, depth), " (issuer \"",
                                  NameToString(X509_get_issuer_name(cert)), "\")"));
}

absl::Status NotCaError(X509* cert, int depth) {
  return DeniedError(absl::StrCat(Describe(cert, depth), " is not a CA certificate"));
}

// `depth_offset`: depth of the certificate X509_verify_cert started from.
absl::Status ChainError(X509_STORE_CTX* ctx, int depth_offset) {
  const int error = X509_STORE_CTX_get_error(ctx);
  const int depth = X509_STORE_CTX_get_error_depth(ctx) + depth_offset;
  X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  ClearOpensslErrors();
  if (cert == nullptr) {
    return DeniedError(absl::StrCat("EK certificate chain rejected: ",
                                    X509_verify_cert_error_string(error)));
  }
  switch (error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return ValidityError(error, cert, depth);
    case X509_V_ERR_INVALID_CA:
      return NotCaError(cert, depth);
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return NoIssuerError(cert, depth);
    default:
      return DeniedError(absl::StrCat("EK certificate chain rejected at ",
                                      Describe(cert, depth), ": ",
                                      X509_verify_cert_error_string(error)));
  }
}

// X509_V_ERR_* of `cert`'s validity period at `at`, or X509_V_OK.
int CheckValidity(X509* cert, time_t at) {
  time_t when = at;
  if (X509_cmp_time(X509_get0_notBefore(cert), &when) >= 0) {
    return X509_V_ERR_CERT_NOT_YET_VALID;
  }
  if (X509_cmp_time(X509_get0_notAfter(cert), &when) <= 0) return X509_V_ERR_CERT_HAS_EXPIRED;
  return X509_V_OK;
}

// Path length constraints of `chain` (issuer first) as seen from a leaf
// below chain[0]: OpenSSL checked them for chain[0] as the leaf, which
// counts one certificate fewer.
absl::Status CheckPathLengthsAboveLeaf(STACK_OF(X509) * chain) {
  long below = 0;  // non-self-issued CA certificates below the current one
  for (int j = 0; j < sk_X509_num(chain); ++j) {
    X509* cert = sk_X509_value(chain, j);
    const long limit = X509_get_pathlen(cert);
    if (j >= 1 && limit >= 0 && below > limit) {
      return DeniedError(absl::StrCat("EK certificate chain rejected at ", Describe(cert, j + 1),
                                      ": path length constraint exceeded"));
    }
    if ((X509_get_extension_flags(cert) & EXFLAG_SI) == 0) ++below;
  }
  return absl::OkStatus();
}

ValidityWindow WindowOf(STACK_OF(X509) * chain) {
  ValidityWindow window;
  for (int i = 0; i < sk_X509_num(chain); ++i) window.Intersect(sk_X509_value(chain, i));
  return window;
}

}  // namespace

void ValidityWindow::Intersect(X509* cert) {
  struct tm tm = {};
  if (ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm) == 1) {
    not_before = std::max(not_before, timegm(&tm));
  }
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) {
    not_after = std::min(not_after, timegm(&tm));
  } else {
    not_after = std::numeric_limits<time_t>::min();  // unreadable: never reuse
  }
}

absl::StatusOr<CertChainVerifier> CertChainVerifier::New(std::vector<X509Ptr> anchors,
                                                         std::vector<X509Ptr> intermediates) {
  if (anchors.empty()) return InvalidArgumentError("no trust anchor");
  X509StorePtr store(X509_STORE_new());
  X509StackPtr anchor_stack = ToStack(std::move(anchors));
  X509StackPtr intermediate_stack = ToStack(std::move(intermediates));
  if (!store || !anchor_stack || !intermediate_stack) return OpensslError("building CA lists");
  X509_STORE_set_check_issued(store.get(), CheckIssuedHook);
  return CertChainVerifier(std::move(store), std::move(anchor_stack),
                           std::move(intermediate_stack));
}

absl::StatusOr<ValidityWindow> CertChainVerifier::Verify(X509* leaf, time_t at) const {
  ClearOpensslErrors();
  if (X509_get0_pubkey(leaf) == nullptr) {
    ClearOpensslErrors();
    return VerifyUndecodableLeaf(leaf, at);
  }
  TPMJOIN_ASSIGN_OR_RETURN(X509StackPtr chain, VerifyWithOpenssl(leaf, at, /*depth=*/0));
  return WindowOf(chain.get());
}

absl::StatusOr<X509StackPtr> CertChainVerifier::VerifyWithOpenssl(X509* cert, time_t at,
                                                                   int depth) const {
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store_.get(), cert, intermediates_.get()) != 1) {
    return OpensslError("X509_STORE_CTX_init");
  }
  X509_STORE_CTX_set0_trusted_stack(ctx.get(), anchors_.get());
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  X509_VERIFY_PARAM_set_time(param, at);
  if (X509_verify_cert(ctx.get()) != 1) return ChainError(ctx.get(), depth);
  X509StackPtr chain(X509_STORE_CTX_get1_chain(ctx.get()));
  if (!chain) return OpensslError("X509_STORE_CTX_get1_chain");
  return chain;
}

absl::StatusOr<ValidityWindow> CertChainVerifier::VerifyUndecodableLeaf(X509* leaf,
                                                                        time_t at) const {
  absl::StatusOr<ValidityWindow> last = NoIssuerError(leaf, 0);
  for (STACK_OF(X509)* candidates : {anchors_.get(), intermediates_.get()}) {
    for (int i = 0; i < sk_X509_num(candidates); ++i) {
      X509* issuer = sk_X509_value(candidates, i);
      if (!Issued(issuer, leaf)) continue;
      last = VerifyUndecodableLeafVia(leaf, issuer, at);
      if (last.ok()) return last;
    }
  }
  ClearOpensslErrors();
  return last;
}

absl::StatusOr<ValidityWindow> CertChainVerifier::VerifyUndecodableLeafVia(X509* leaf,
                                                                           X509* issuer,
                                                                           time_t at) const {
  EVP_PKEY* issuer_key = X509_get0_pubkey(issuer);
  if (issuer_key == nullptr || X509_verify(leaf, issuer_key) != 1) {
    ClearOpensslErrors();
    return DeniedError(absl::StrCat("the EK certificate's signature does not verify with ",
                                    Describe(issuer, 1)));
  }
  if (const int error = CheckValidity(leaf, at); error != X509_V_OK) {
    return ValidityError(error, leaf, 0);
  }
  if ((X509_get_extension_flags(leaf) & (EXFLAG_CRITICAL | EXFLAG_INVALID)) != 0) {
    return DeniedError(
        "EK certificate chain rejected at the EK certificate: unhandled critical extension "
        "(or a malformed extension)");
  }
  // As X509_verify_cert judges issuers: a trust anchor must be some kind of
  // CA (X509_check_ca != 0); any other issuer needs basicConstraints cA TRUE
  // (X509_check_ca == 1; keyCertSign alone is not enough).
  const int ca = X509_check_ca(issuer);
  if (ca == 0) return NotCaError(issuer, 1);
  auto chain = VerifyWithOpenssl(issuer, at, /*depth=*/1);
  if (!chain.ok()) return chain.status();
  // With X509_V_FLAG_PARTIAL_CHAIN the chain ends at the first trusted
  // certificate: a chain of one means the issuer is itself an anchor.
  if (ca != 1 && sk_X509_num(chain->get()) > 1) return NotCaError(issuer, 1);
  TPMJOIN_RETURN_IF_ERROR(CheckPathLengthsAboveLeaf(chain->get()));
  ValidityWindow window = WindowOf(chain->get());
  window.Intersect(leaf);
  return window;
}

}  // namespace tpmjoin::verifier
