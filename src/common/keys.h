// Public keys: TPM form (TPMT_PUBLIC) to OpenSSL, PKIX DER, and the EK
// identifiers that Teleport join tokens hold.
#ifndef TPMJOIN_SRC_COMMON_KEYS_H_
#define TPMJOIN_SRC_COMMON_KEYS_H_

#include <tss2/tss2_tpm2_types.h>

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "src/common/bytes.h"
#include "src/common/ossl.h"

namespace tpmjoin {

// RSA (exponent 0 means 65537) or ECC (NIST P-256/384/521) public key of a
// TPM object. Other types and curves: BAD_MESSAGE.
absl::StatusOr<EvpPkeyPtr> PublicKeyFromTpmt(const TPMT_PUBLIC& pub);

// SubjectPublicKeyInfo DER (RSA as rsaEncryption, EC as a named curve with
// an uncompressed point: the encoding Go's x509.MarshalPKIXPublicKey makes,
// whatever encoding `key` was parsed from; sets `key`'s EC encoding
// preferences to that).
absl::StatusOr<Bytes> PkixDer(EVP_PKEY* key);

// Parses SubjectPublicKeyInfo DER or PEM ("PUBLIC KEY").
absl::StatusOr<EvpPkeyPtr> ParsePublicKey(ByteSpan der_or_pem);

// Parses exactly one SubjectPublicKeyInfo DER (no trailing bytes).
// INVALID_ARGUMENT otherwise.
absl::StatusOr<EvpPkeyPtr> ParsePublicKeyDer(ByteSpan der);

// An RSAPublicKey (PKCS #1) DER, exactly one element, as a provider-native
// key: decoded through a SubjectPublicKeyInfo by OpenSSL's decoders, never
// as a legacy EVP_PKEY (d2i_PublicKey), which OpenSSL 3.0 exports to its
// provider lazily on first use, writing to a key other threads may be
// using. INVALID_ARGUMENT otherwise.
absl::StatusOr<EvpPkeyPtr> RsaPublicKeyFromPkcs1(ByteSpan rsa_public_key);

// "rsa2048", "rsa3072", "ecc-p256", "ecc-p384", "ecc-p521", else "unknown".
std::string KeyTypeName(EVP_PKEY* key);

// The TPM curve of an EC key on NIST P-256/384/521; TPM2_ECC_NONE for any
// other key.
TPM2_ECC_CURVE TpmCurveOfKey(EVP_PKEY* key);

// How an EK is named in join tokens.
struct EkPublic {
  EvpPkeyPtr key;
  Bytes pkix_der;
  std::string pub_hash;  // lowercase hex SHA-256 of pkix_der
  std::string key_type;  // KeyTypeName
};
absl::StatusOr<EkPublic> DescribeEkPublic(EvpPkeyPtr key);

// EkPublic::pub_hash of a PKIX DER public key.
absl::StatusOr<std::string> EkPubHash(ByteSpan pkix_der);

// PEM armour ("-----BEGIN <label>-----") around DER.
std::string ToPem(absl::string_view label, ByteSpan der);

}  // namespace tpmjoin

#endif  // TPMJOIN_SRC_COMMON_KEYS_H_
