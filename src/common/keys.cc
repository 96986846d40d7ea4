#include "src/common/keys.h"

#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/common/der.h"
#include "src/common/digest.h"
#include "src/common/errors.h"
#include "src/common/hex.h"

namespace tpmjoin {
namespace {

struct CurveInfo {
  TPM2_ECC_CURVE tpm_id;
  const char* group_name;  // OpenSSL
  const char* short_name;  // ours
  size_t field_bytes;
  ByteSpan oid;            // DER contents of the curve's OBJECT IDENTIFIER
};

constexpr uint8_t kOidP256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
constexpr uint8_t kOidP384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
constexpr uint8_t kOidP521[] = {0x2b, 0x81, 0x04, 0x00, 0x23};
constexpr uint8_t kOidRsaEncryption[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
constexpr uint8_t kOidEcPublicKey[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};

const CurveInfo kCurves[] = {
    {TPM2_ECC_NIST_P256, "prime256v1", "p256", 32, kOidP256},
    {TPM2_ECC_NIST_P384, "secp384r1", "p384", 48, kOidP384},
    {TPM2_ECC_NIST_P521, "secp521r1", "p521", 66, kOidP521},
};

const CurveInfo* CurveOfKey(EVP_PKEY* key) {
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                     &len) != 1) {
    return nullptr;
  }
  for (const auto& c : kCurves) {
    if (absl::string_view(group) == c.group_name) return &c;
  }
  return nullptr;
}

absl::StatusOr<Bytes> BnParam(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) {
    return OpensslError(absl::StrCat("reading key parameter ", name));
  }
  BignumPtr owned(bn);
  Bytes out(BN_num_bytes(bn));
  BN_bn2bin(bn, out.data());
  return out;
}

// Any other key, through OpenSSL's encoders, in the same canonical form.
absl::StatusOr<Bytes> GenericPkixDer(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC") &&
      (EVP_PKEY_set_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                      OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1 ||
       EVP_PKEY_set_utf8_string_param(key, OSSL_PKEY_PARAM_EC_ENCODING,
                                      OSSL_PKEY_EC_ENCODING_GROUP) != 1)) {
    return OpensslError("setting the EC point encoding");
  }
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return OpensslError("i2d_PUBKEY");
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

// SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
//                                     subjectPublicKey BIT STRING }
Bytes Spki(ByteSpan algorithm_identifier_contents, ByteSpan key_bits) {
  return der::Tlv(der::kSequence,
                  der::Concat({der::Tlv(der::kSequence, algorithm_identifier_contents),
                               der::BitString(key_bits)}));
}

// An rsaEncryption SubjectPublicKeyInfo around a DER RSAPublicKey.
Bytes RsaSpki(ByteSpan rsa_public_key) {
  return Spki(der::Concat({der::Tlv(der::kObjectIdentifier, kOidRsaEncryption),
                           der::Tlv(der::kNull, {})}),
              rsa_public_key);
}

const CurveInfo* CurveByTpmId(TPM2_ECC_CURVE id) {
  for (const auto& c : kCurves) {
    if (c.tpm_id == id) return &c;
  }
  return nullptr;
}

absl::StatusOr<EvpPkeyPtr> FromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OsslParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return OpensslError("EVP_PKEY_fromdata_init");
  }
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return OpensslError(AbiCode::kBadMessage, "not a valid public key");
  }
  return EvpPkeyPtr(key);
}

absl::StatusOr<EvpPkeyPtr> RsaFromTpmt(const TPMT_PUBLIC& pub) {
  const TPM2B_PUBLIC_KEY_RSA& n = pub.unique.rsa;
  if (n.size == 0) return BadMessageError("RSA key has an empty modulus");
  const uint32_t exponent = pub.parameters.rsaDetail.exponent == 0
                                ? 65537
                                : pub.parameters.rsaDetail.exponent;
  BignumPtr bn_n(BN_bin2bn(n.buffer, n.size, nullptr));
  BignumPtr bn_e(BN_new());
  OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || BN_set_word(bn_e.get(), exponent) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return OpensslError("building RSA key parameters");
  }
  return FromParams("RSA", bld.get());
}

absl::StatusOr<EvpPkeyPtr> EccFromTpmt(const TPMT_PUBLIC& pub) {
  const CurveInfo* curve = CurveByTpmId(pub.parameters.eccDetail.curveID);
  if (curve == nullptr) {
    return BadMessageError(absl::StrCat("unsupported ECC curve 0x",
                                        absl::Hex(pub.parameters.eccDetail.curveID)));
  }
  const TPMS_ECC_POINT& q = pub.unique.ecc;
  if (q.x.size == 0 || q.x.size > curve->field_bytes || q.y.size == 0 ||
      q.y.size > curve->field_bytes) {
    return BadMessageError("ECC point coordinates do not fit the curve");
  }
  // Uncompressed point 04 || x || y, coordinates left-padded to field size.
  Bytes point(1 + 2 * curve->field_bytes, 0);
  point[0] = 0x04;
  std::copy(q.x.buffer, q.x.buffer + q.x.size,
            point.begin() + 1 + curve->field_bytes - q.x.size);
  std::copy(q.y.buffer, q.y.buffer + q.y.size, point.end() - q.y.size);
  OsslParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                      curve->group_name, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return OpensslError("building EC key parameters");
  }
  return FromParams("EC", bld.get());
}

}  // namespace

absl::StatusOr<EvpPkeyPtr> PublicKeyFromTpmt(const TPMT_PUBLIC& pub) {
  switch (pub.type) {
    case TPM2_ALG_RSA:
      return RsaFromTpmt(pub);
    case TPM2_ALG_ECC:
      return EccFromTpmt(pub);
    default:
      return BadMessageError(
          absl::StrCat("unsupported key type 0x", absl::Hex(pub.type), " (want RSA or ECC)"));
  }
}

// Written from the key's parameters with a small DER writer rather than
// i2d_PUBKEY: the canonical form whatever encoding the key was read from
// (compressed points, explicit curve parameters, id-RSAES-OAEP), and without
// OpenSSL 3.0's encoder lookup, which costs ~100 us per call. Tests check it
// against i2d_PUBKEY byte for byte.
absl::StatusOr<Bytes> PkixDer(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    TPMJOIN_ASSIGN_OR_RETURN(Bytes n, BnParam(key, OSSL_PKEY_PARAM_RSA_N));
    TPMJOIN_ASSIGN_OR_RETURN(Bytes e, BnParam(key, OSSL_PKEY_PARAM_RSA_E));
    const Bytes rsa_public_key =
        der::Tlv(der::kSequence, der::Concat({der::UnsignedInteger(n), der::UnsignedInteger(e)}));
    return RsaSpki(rsa_public_key);
  }
  const CurveInfo* curve = EVP_PKEY_is_a(key, "EC") ? CurveOfKey(key) : nullptr;
  if (curve != nullptr) {
    TPMJOIN_ASSIGN_OR_RETURN(Bytes x, BnParam(key, OSSL_PKEY_PARAM_EC_PUB_X));
    TPMJOIN_ASSIGN_OR_RETURN(Bytes y, BnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y));
    if (x.size() > curve->field_bytes || y.size() > curve->field_bytes) {
      return InvalidArgumentError("EC point does not fit its curve");
    }
    Bytes point(1 + 2 * curve->field_bytes, 0);  // 04 || x || y, zero-padded
    point[0] = 0x04;
    std::copy(x.begin(), x.end(), point.begin() + 1 + curve->field_bytes - x.size());
    std::copy(y.begin(), y.end(), point.end() - y.size());
    return Spki(der::Concat({der::Tlv(der::kObjectIdentifier, kOidEcPublicKey),
                             der::Tlv(der::kObjectIdentifier, curve->oid)}),
                point);
  }
  return GenericPkixDer(key);
}

absl::StatusOr<EvpPkeyPtr> ParsePublicKeyDer(ByteSpan der) {
  ClearOpensslErrors();
  const unsigned char* p = der.data();
  EvpPkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!key) {
    return OpensslError(AbiCode::kInvalidArgument, "not a SubjectPublicKeyInfo public key");
  }
  if (p != der.data() + der.size()) {
    return InvalidArgumentError("trailing bytes after SubjectPublicKeyInfo");
  }
  return key;
}

absl::StatusOr<EvpPkeyPtr> RsaPublicKeyFromPkcs1(ByteSpan rsa_public_key) {
  if (rsa_public_key.empty() || rsa_public_key[0] != der::kSequence ||
      der::ElementLength(rsa_public_key) != rsa_public_key.size()) {
    return InvalidArgumentError("not exactly one DER RSAPublicKey");
  }
  TPMJOIN_ASSIGN_OR_RETURN(EvpPkeyPtr key, ParsePublicKeyDer(RsaSpki(rsa_public_key)));
  if (!EVP_PKEY_is_a(key.get(), "RSA")) return InvalidArgumentError("not an RSA public key");
  return key;
}

absl::StatusOr<EvpPkeyPtr> ParsePublicKey(ByteSpan data) {
  const absl::string_view text = AsStringView(data);
  if (text.find("-----BEGIN") == absl::string_view::npos) return ParsePublicKeyDer(data);
  ClearOpensslErrors();
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (!bio) return OpensslError("BIO_new_mem_buf");
  EvpPkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return OpensslError(AbiCode::kInvalidArgument, "not a SubjectPublicKeyInfo public key");
  }
  return key;
}

std::string KeyTypeName(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "RSA")) return absl::StrCat("rsa", EVP_PKEY_get_bits(key));
  if (EVP_PKEY_is_a(key, "EC")) {
    const CurveInfo* curve = CurveOfKey(key);
    return curve != nullptr ? absl::StrCat("ecc-", curve->short_name) : "ecc-unknown";
  }
  return "unknown";
}

TPM2_ECC_CURVE TpmCurveOfKey(EVP_PKEY* key) {
  const CurveInfo* curve = EVP_PKEY_is_a(key, "EC") ? CurveOfKey(key) : nullptr;
  return curve != nullptr ? curve->tpm_id : TPM2_ECC_NONE;
}

absl::StatusOr<std::string> EkPubHash(ByteSpan pkix_der) {
  TPMJOIN_ASSIGN_OR_RETURN(Bytes hash, Digest(EVP_sha256(), {pkix_der}));
  return HexEncode(hash);
}

absl::StatusOr<EkPublic> DescribeEkPublic(EvpPkeyPtr key) {
  EkPublic out;
  TPMJOIN_ASSIGN_OR_RETURN(out.pkix_der, PkixDer(key.get()));
  TPMJOIN_ASSIGN_OR_RETURN(out.pub_hash, EkPubHash(out.pkix_der));
  out.key_type = KeyTypeName(key.get());
  out.key = std::move(key);
  return out;
}

std::string ToPem(absl::string_view label, ByteSpan der) {
  const std::string b64 = absl::Base64Escape(AsStringView(der));
  std::string out = absl::StrCat("-----BEGIN ", label, "-----\n");
  for (size_t i = 0; i < b64.size(); i += 64) {
    absl::StrAppend(&out, b64.substr(i, 64), "\n");
  }
  absl::StrAppend(&out, "-----END ", label, "-----\n");
  return out;
}

}  // namespace tpmjoin
