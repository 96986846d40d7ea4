#include "src/verifier/make_credential.h"

#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "src/common/errors.h"
#include "src/common/ossl.h"
#include "src/verifier/kdf.h"

namespace tpmjoin::verifier {
namespace {

// Labels of TPM 2.0 Part 1 (KDFa/KDFe append the zero octet; OAEP's label
// is given with it).
constexpr absl::string_view kIdentityLabel = "IDENTITY";
constexpr absl::string_view kStorageLabel = "STORAGE";
constexpr absl::string_view kIntegrityLabel = "INTEGRITY";
constexpr char kOaepLabel[] = "IDENTITY";  // sizeof includes the zero octet

// Appends `data` as a TPM2B: 2-byte big-endian size, then the bytes.
template <typename Out>
absl::Status AppendTpm2b(ByteSpan data, Out* out) {
  if (data.size() > 0xffff) return InternalError("TPM2B content larger than 65535 bytes");
  out->push_back(static_cast<uint8_t>(data.size() >> 8));
  out->push_back(static_cast<uint8_t>(data.size()));
  out->insert(out->end(), data.begin(), data.end());
  return absl::OkStatus();
}

absl::StatusOr<Bytes> AsTpm2b(ByteSpan data) {
  Bytes out;
  TPMJOIN_RETURN_IF_ERROR(AppendTpm2b(data, &out));
  return out;
}

size_t DigestSize(const EVP_MD* md) { return static_cast<size_t>(EVP_MD_get_size(md)); }

absl::StatusOr<Bytes> AesCfbZeroIv(const EkProfile& profile, ByteSpan key, ByteSpan plain) {
  const EVP_CIPHER* cipher = ProfileCipher(profile);
  if (key.size() != static_cast<size_t>(EVP_CIPHER_get_key_length(cipher))) {
    return InternalError("AES key of the wrong size");
  }
  const uint8_t iv[16] = {0};
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  Bytes out(plain.size() + EVP_CIPHER_get_block_size(cipher));
  int len = 0;
  int final_len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, key.data(), iv) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, plain.data(),
                        static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &final_len) != 1) {
    return OpensslError("AES-CFB encryption");
  }
  out.resize(static_cast<size_t>(len + final_len));
  return out;
}

absl::StatusOr<Bytes> Hmac(const EVP_MD* md, ByteSpan key, ByteSpan a, ByteSpan b) {
  SecureBytes message(a.begin(), a.end());
  message.insert(message.end(), b.begin(), b.end());
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (HMAC(md, key.data(), static_cast<int>(key.size()), message.data(), message.size(),
           out.data(), &len) == nullptr) {
    return OpensslError("HMAC");
  }
  out.resize(len);
  return out;
}

absl::StatusOr<Bytes> RsaOaepEncrypt(EVP_PKEY* ek, const EVP_MD* md, ByteSpan seed) {
  ClearOpensslErrors();
  char* md_name = const_cast<char*>(EVP_MD_get0_name(md));
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE,
                                       const_cast<char*>(OSSL_PKEY_RSA_PAD_MODE_OAEP), 0),
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, md_name, 0),
      OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, md_name, 0),
      OSSL_PARAM_construct_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL,
                                        const_cast<char*>(kOaepLabel), sizeof(kOaepLabel)),
      OSSL_PARAM_construct_end(),
  };
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ek, nullptr));
  size_t len = 0;
  if (!ctx || EVP_PKEY_encrypt_init_ex(ctx.get(), params) != 1 ||
      EVP_PKEY_encrypt(ctx.get(), nullptr, &len, seed.data(), seed.size()) != 1) {
    return OpensslError("RSA-OAEP encryption of the seed");
  }
  Bytes out(len);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, seed.data(), seed.size()) != 1) {
    return OpensslError("RSA-OAEP encryption of the seed");
  }
  out.resize(len);
  return out;
}

absl::StatusOr<std::string> GroupName(EVP_PKEY* key) {
  char name[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name),
                                     &len) != 1) {
    return OpensslError("EC key without a named curve");
  }
  return std::string(name, len);
}

size_t FieldBytes(EVP_PKEY* key) { return static_cast<size_t>((EVP_PKEY_get_bits(key) + 7) / 8); }

// A public coordinate (OSSL_PKEY_PARAM_EC_PUB_X / _Y), padded to the field
// size as the TPM marshals it.
absl::StatusOr<Bytes> Coordinate(EVP_PKEY* key, const char* which) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, which, &raw) != 1) return OpensslError(which);
  BignumPtr bn(raw);
  Bytes out(FieldBytes(key));
  if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(out.size())) < 0) {
    return OpensslError("BN_bn2binpad");
  }
  return out;
}

absl::StatusOr<SecureBytes> EcdhSharedX(EVP_PKEY* own, EVP_PKEY* peer) {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
  size_t len = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1) {
    return OpensslError("ECDH");
  }
  SecureBytes z(len);
  if (EVP_PKEY_derive(ctx.get(), z.data(), &len) != 1) return OpensslError("ECDH");
  z.resize(len);
  return z;
}

absl::StatusOr<EncryptedCredential> Finish(const EkProfile& profile, ByteSpan seed,
                                           ByteSpan encrypted_seed, ByteSpan ak_name,
                                           ByteSpan credential) {
  EncryptedCredential out;
  TPMJOIN_ASSIGN_OR_RETURN(out.credential_blob,
                           ProtectCredential(profile, seed, ak_name, credential));
  TPMJOIN_ASSIGN_OR_RETURN(out.secret, AsTpm2b(encrypted_seed));
  return out;
}

}  // namespace

absl::StatusOr<Bytes> ProtectCredential(const EkProfile& profile, ByteSpan seed,
                                        ByteSpan ak_name, ByteSpan credential) {
  const EVP_MD* md = ProfileDigest(profile);
  if (md == nullptr) return InternalError("EK profile without a hash");
  if (credential.size() > DigestSize(md)) {
    return InternalError(absl::StrCat("credential of ", credential.size(),
                                      " bytes is larger than the EK's name digest"));
  }
  // encIdentity = AES-CFB(symKey, IV 0) over TPM2B_DIGEST(credential).
  TPMJOIN_ASSIGN_OR_RETURN(
      const SecureBytes sym_key,
      KDFa(md, seed, kStorageLabel, ak_name, {}, profile.aes_key_bits));
  SecureBytes plain;
  TPMJOIN_RETURN_IF_ERROR(AppendTpm2b(credential, &plain));
  TPMJOIN_ASSIGN_OR_RETURN(const Bytes enc_identity, AesCfbZeroIv(profile, sym_key, plain));
  // outerHMAC = HMAC(hmacKey, encIdentity || name).
  TPMJOIN_ASSIGN_OR_RETURN(const SecureBytes hmac_key,
                           KDFa(md, seed, kIntegrityLabel, {}, {}, DigestSize(md) * 8));
  TPMJOIN_ASSIGN_OR_RETURN(const Bytes outer_hmac, Hmac(md, hmac_key, enc_identity, ak_name));
  // TPM2B_ID_OBJECT { TPM2B_DIGEST(outerHMAC) || encIdentity }.
  Bytes id_object;
  TPMJOIN_RETURN_IF_ERROR(AppendTpm2b(outer_hmac, &id_object));
  id_object.insert(id_object.end(), enc_identity.begin(), enc_identity.end());
  return AsTpm2b(id_object);
}

absl::StatusOr<EncryptedCredential> MakeCredentialWithRsaSeed(EVP_PKEY* ek,
                                                              const EkProfile& profile,
                                                              ByteSpan ak_name,
                                                              ByteSpan credential,
                                                              ByteSpan seed) {
  if (!EVP_PKEY_is_a(ek, "RSA")) return InternalError("MakeCredential: EK is not an RSA key");
  TPMJOIN_ASSIGN_OR_RETURN(const Bytes encrypted_seed,
                           RsaOaepEncrypt(ek, ProfileDigest(profile), seed));
  return Finish(profile, seed, encrypted_seed, ak_name, credential);
}

absl::StatusOr<EncryptedCredential> MakeCredentialWithEphemeralKey(EVP_PKEY* ek,
                                                                   const EkProfile& profile,
                                                                   ByteSpan ak_name,
                                                                   ByteSpan credential,
                                                                   EVP_PKEY* ephemeral) {
  if (!EVP_PKEY_is_a(ek, "EC") || !EVP_PKEY_is_a(ephemeral, "EC")) {
    return InternalError("MakeCredential: EK or ephemeral key is not an EC key");
  }
  TPMJOIN_ASSIGN_OR_RETURN(const std::string ek_group, GroupName(ek));
  TPMJOIN_ASSIGN_OR_RETURN(const std::string ephemeral_group, GroupName(ephemeral));
  if (ek_group != ephemeral_group) {
    return InternalError("MakeCredential: ephemeral key is not on the EK's curve");
  }
  const EVP_MD* md = ProfileDigest(profile);
  TPMJOIN_ASSIGN_OR_RETURN(const Bytes ek_x, Coordinate(ek, OSSL_PKEY_PARAM_EC_PUB_X));
  TPMJOIN_ASSIGN_OR_RETURN(const Bytes ephemeral_x,
                           Coordinate(ephemeral, OSSL_PKEY_PARAM_EC_PUB_X));
  TPMJOIN_ASSIGN_OR_RETURN(const Bytes ephemeral_y,
                           Coordinate(ephemeral, OSSL_PKEY_PARAM_EC_PUB_Y));
  // seed = KDFe(H, Z, "IDENTITY", ephemeral.x, EK.x, bits(H)).
  TPMJOIN_ASSIGN_OR_RETURN(const SecureBytes z, EcdhSharedX(ephemeral, ek));
  TPMJOIN_ASSIGN_OR_RETURN(const SecureBytes seed,
                           KDFe(md, z, kIdentityLabel, ephemeral_x, ek_x, DigestSize(md) * 8));
  // The encrypted seed is the marshaled TPMS_ECC_POINT of the ephemeral key.
  Bytes point;
  TPMJOIN_RETURN_IF_ERROR(AppendTpm2b(ephemeral_x, &point));
  TPMJOIN_RETURN_IF_ERROR(AppendTpm2b(ephemeral_y, &point));
  return Finish(profile, seed, point, ak_name, credential);
}

absl::StatusOr<EncryptedCredential> MakeCredential(EVP_PKEY* ek, const EkProfile& profile,
                                                   ByteSpan ak_name, ByteSpan credential) {
  if (EVP_PKEY_is_a(ek, "RSA")) {
    SecureBytes seed(DigestSize(ProfileDigest(profile)));
    if (RAND_priv_bytes(seed.data(), static_cast<int>(seed.size())) != 1) {
      return OpensslError("RAND_priv_bytes");
    }
    return MakeCredentialWithRsaSeed(ek, profile, ak_name, credential, seed);
  }
  if (EVP_PKEY_is_a(ek, "EC")) {
    TPMJOIN_ASSIGN_OR_RETURN(const std::string group, GroupName(ek));
    EvpPkeyPtr ephemeral(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group.c_str()));
    if (!ephemeral) return OpensslError("generating the ephemeral ECDH key");
    return MakeCredentialWithEphemeralKey(ek, profile, ak_name, credential, ephemeral.get());
  }
  return InternalError("MakeCredential: EK is neither RSA nor EC");
}

}  // namespace tpmjoin::verifier
