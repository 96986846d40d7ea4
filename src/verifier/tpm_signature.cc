#include "src/verifier/tpm_signature.h"

#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "src/common/digest.h"
#include "src/common/errors.h"
#include "src/common/ossl.h"

namespace tpmjoin::verifier {
namespace {

// The DER ECDSA-Sig-Value OpenSSL verifies, from the TPM's r and s.
absl::StatusOr<Bytes> EcdsaDer(EVP_PKEY* key, const TPMS_SIGNATURE_ECC& ecdsa) {
  const size_t field_bytes = static_cast<size_t>((EVP_PKEY_get_bits(key) + 7) / 8);
  const TPM2B_ECC_PARAMETER& r = ecdsa.signatureR;
  const TPM2B_ECC_PARAMETER& s = ecdsa.signatureS;
  if (r.size == 0 || s.size == 0 || r.size > field_bytes || s.size > field_bytes) {
    return DeniedError(absl::StrCat("AK signature: ECDSA r/s are ", r.size, "/", s.size,
                                    " bytes, want 1 to ", field_bytes));
  }
  BignumPtr bn_r(BN_bin2bn(r.buffer, r.size, nullptr));
  BignumPtr bn_s(BN_bin2bn(s.buffer, s.size, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!bn_r || !bn_s || !sig || ECDSA_SIG_set0(sig.get(), bn_r.get(), bn_s.get()) != 1) {
    return OpensslError("ECDSA_SIG_set0");
  }
  bn_r.release();
  bn_s.release();
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return OpensslError("i2d_ECDSA_SIG");
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

absl::StatusOr<Bytes> RsassaBytes(EVP_PKEY* key, const TPMS_SIGNATURE_RSA& rsassa) {
  const size_t want = static_cast<size_t>(EVP_PKEY_get_size(key));
  if (rsassa.sig.size != want) {
    return DeniedError(absl::StrCat("AK signature: RSASSA signature is ", rsassa.sig.size,
                                    " bytes, want ", want, " (the modulus size)"));
  }
  return FromTpm2b(rsassa.sig);
}

}  // namespace

bool IsAcceptedHash(TPM2_ALG_ID alg) {
  return alg == TPM2_ALG_SHA256 || alg == TPM2_ALG_SHA384 || alg == TPM2_ALG_SHA512;
}

std::string HashName(TPM2_ALG_ID alg) {
  switch (alg) {
    case TPM2_ALG_SHA1:
      return "sha1";
    case TPM2_ALG_SHA256:
      return "sha256";
    case TPM2_ALG_SHA384:
      return "sha384";
    case TPM2_ALG_SHA512:
      return "sha512";
    default:
      return absl::StrCat("0x", absl::Hex(alg));
  }
}

absl::Status VerifyTpmSignature(EVP_PKEY* key, const TPMT_SIGNATURE& signature, ByteSpan data) {
  absl::StatusOr<Bytes> sig;
  TPM2_ALG_ID hash = TPM2_ALG_NULL;
  switch (signature.sigAlg) {
    case TPM2_ALG_RSASSA:
      hash = signature.signature.rsassa.hash;
      sig = RsassaBytes(key, signature.signature.rsassa);
      break;
    case TPM2_ALG_ECDSA:
      hash = signature.signature.ecdsa.hash;
      sig = EcdsaDer(key, signature.signature.ecdsa);
      break;
    default:
      return DeniedError(absl::StrCat("AK signature: unsupported algorithm 0x",
                                      absl::Hex(signature.sigAlg)));
  }
  if (!sig.ok()) return sig.status();
  const EVP_MD* md = IsAcceptedHash(hash) ? EvpMdForTpmAlg(hash) : nullptr;
  if (md == nullptr) {
    return DeniedError(absl::StrCat("AK signature: unsupported hash ", HashName(hash)));
  }
  ClearOpensslErrors();
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key) != 1) {
    return OpensslError("EVP_DigestVerifyInit");
  }
  if (signature.sigAlg == TPM2_ALG_RSASSA &&
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
    return OpensslError("EVP_PKEY_CTX_set_rsa_padding");
  }
  if (EVP_DigestVerify(ctx.get(), sig->data(), sig->size(), data.data(), data.size()) != 1) {
    ClearOpensslErrors();
    return DeniedError("AK signature over create_attestation does not verify with the AK's key");
  }
  return absl::OkStatus();
}

}  // namespace tpmjoin::verifier
