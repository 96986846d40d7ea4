#include "src/verifier/ak_validation.h"

#include "absl/strings/str_cat.h"
#include "src/common/digest.h"
#include "src/common/errors.h"
#include "src/common/keys.h"
#include "src/common/tpm_mu.h"
#include "src/verifier/tpm_signature.h"

namespace tpmjoin::verifier {
namespace {

constexpr uint16_t kMinRsaBits = 2048;
constexpr uint32_t kRsaDefaultExponent = 65537;

struct Attribute {
  TPMA_OBJECT mask;
  const char* name;
};

constexpr Attribute kRequiredAttributes[] = {
    {TPMA_OBJECT_FIXEDTPM, "fixedTPM"},
    {TPMA_OBJECT_FIXEDPARENT, "fixedParent"},
    {TPMA_OBJECT_SENSITIVEDATAORIGIN, "sensitiveDataOrigin"},
    {TPMA_OBJECT_RESTRICTED, "restricted"},
    {TPMA_OBJECT_SIGN_ENCRYPT, "sign"},
};

template <typename T>
absl::Status ParseField(const std::string& bytes, absl::string_view field, Bytes* raw, T* out) {
  *raw = ToBytes(bytes);
  TPMJOIN_ASSIGN_OR_RETURN(*out, Unmarshal<T>(*raw, field));
  return absl::OkStatus();
}

absl::Status CheckAttestHeader(const TPMS_ATTEST& attest) {
  if (attest.magic != TPM2_GENERATED_VALUE) {
    return DeniedError(absl::StrCat("create_attestation: magic is 0x", absl::Hex(attest.magic),
                                    ", not TPM_GENERATED_VALUE (0xff544347): not made by a TPM"));
  }
  if (attest.type != TPM2_ST_ATTEST_CREATION) {
    return DeniedError(absl::StrCat("create_attestation: type is 0x", absl::Hex(attest.type),
                                    ", not TPM_ST_ATTEST_CREATION (0x801a)"));
  }
  return absl::OkStatus();
}

absl::Status CheckAttributes(TPMA_OBJECT attributes) {
  for (const Attribute& a : kRequiredAttributes) {
    if ((attributes & a.mask) == 0) {
      return DeniedError(absl::StrCat("AK attribute ", a.name, " is not set"));
    }
  }
  if ((attributes & TPMA_OBJECT_DECRYPT) != 0) {
    return DeniedError("AK attribute decrypt is set (an AK must be a signing-only key)");
  }
  return absl::OkStatus();
}

// The scheme the AK's public area fixes; the signature must use it.
TPM2_ALG_ID SchemeOf(const TPMT_PUBLIC& pub) {
  return pub.type == TPM2_ALG_RSA ? pub.parameters.rsaDetail.scheme.scheme
                                  : pub.parameters.eccDetail.scheme.scheme;
}

TPM2_ALG_ID SchemeHashOf(const TPMT_PUBLIC& pub) {
  return pub.type == TPM2_ALG_RSA ? pub.parameters.rsaDetail.scheme.details.rsassa.hashAlg
                                  : pub.parameters.eccDetail.scheme.details.ecdsa.hashAlg;
}

// What RSA and ECC AKs share: no symmetric algorithm, the one signing
// scheme we accept for the key type, an accepted hash.
absl::Status CheckSigningScheme(const TPMT_PUBLIC& pub, const TPMT_SYM_DEF_OBJECT& symmetric,
                                TPM2_ALG_ID want, absl::string_view want_name) {
  if (symmetric.algorithm != TPM2_ALG_NULL) {
    return DeniedError("AK has a symmetric algorithm (only storage keys have one)");
  }
  if (SchemeOf(pub) != want) {
    return DeniedError(absl::StrCat("AK ", pub.type == TPM2_ALG_RSA ? "RSA" : "ECC",
                                    " scheme is 0x", absl::Hex(SchemeOf(pub)), ", not ",
                                    want_name));
  }
  if (!IsAcceptedHash(SchemeHashOf(pub))) {
    return DeniedError(absl::StrCat("AK signing scheme hash ", HashName(SchemeHashOf(pub)),
                                    " is not SHA-256, SHA-384 or SHA-512"));
  }
  return absl::OkStatus();
}

absl::Status CheckRsaParameters(const TPMT_PUBLIC& pub) {
  const TPMS_RSA_PARMS& rsa = pub.parameters.rsaDetail;
  TPMJOIN_RETURN_IF_ERROR(CheckSigningScheme(pub, rsa.symmetric, TPM2_ALG_RSASSA, "RSASSA"));
  if (rsa.keyBits < kMinRsaBits || rsa.keyBits % 8 != 0) {
    return DeniedError(absl::StrCat("AK RSA key has ", rsa.keyBits, " bits, want at least ",
                                    kMinRsaBits));
  }
  if (pub.unique.rsa.size != rsa.keyBits / 8) {
    return DeniedError(absl::StrCat("AK RSA modulus is ", pub.unique.rsa.size,
                                    " bytes, but keyBits says ", rsa.keyBits));
  }
  // keyBits is only a claim: a 1024-bit modulus padded with zero bytes to
  // 256 would pass the size checks. A TPM's modulus has its top bit set.
  if ((pub.unique.rsa.buffer[0] & 0x80) == 0) {
    return DeniedError(absl::StrCat("AK RSA modulus starts with a zero bit: it has fewer than ",
                                    rsa.keyBits, " bits, as keyBits claims"));
  }
  if (rsa.exponent != 0 && rsa.exponent != kRsaDefaultExponent) {
    return DeniedError(absl::StrCat("AK RSA exponent is ", rsa.exponent, ", want 65537"));
  }
  return absl::OkStatus();
}

absl::Status CheckEccParameters(const TPMT_PUBLIC& pub) {
  const TPMS_ECC_PARMS& ecc = pub.parameters.eccDetail;
  TPMJOIN_RETURN_IF_ERROR(CheckSigningScheme(pub, ecc.symmetric, TPM2_ALG_ECDSA, "ECDSA"));
  if (ecc.curveID != TPM2_ECC_NIST_P256 && ecc.curveID != TPM2_ECC_NIST_P384) {
    return DeniedError(absl::StrCat("AK ECC curve is 0x", absl::Hex(ecc.curveID),
                                    ", not NIST P-256 or P-384"));
  }
  if (ecc.kdf.scheme != TPM2_ALG_NULL) {
    return DeniedError("AK has a KDF scheme (a signing key has none)");
  }
  return absl::OkStatus();
}

absl::Status CheckKeyParameters(const TPMT_PUBLIC& pub) {
  switch (pub.type) {
    case TPM2_ALG_RSA:
      return CheckRsaParameters(pub);
    case TPM2_ALG_ECC:
      return CheckEccParameters(pub);
    default:
      return DeniedError(absl::StrCat("AK type is 0x", absl::Hex(pub.type), ", not RSA or ECC"));
  }
}

TPM2_ALG_ID SignatureHashOf(const TPMT_SIGNATURE& sig) {
  switch (sig.sigAlg) {
    case TPM2_ALG_RSASSA:
      return sig.signature.rsassa.hash;
    case TPM2_ALG_ECDSA:
      return sig.signature.ecdsa.hash;
    default:
      return TPM2_ALG_NULL;
  }
}

absl::Status CheckSignatureAlgorithm(const TPMT_PUBLIC& pub, const TPMT_SIGNATURE& sig) {
  if (sig.sigAlg != SchemeOf(pub)) {
    return DeniedError(absl::StrCat("AK signature algorithm 0x", absl::Hex(sig.sigAlg),
                                    " is not the AK's scheme 0x", absl::Hex(SchemeOf(pub))));
  }
  if (SignatureHashOf(sig) != SchemeHashOf(pub)) {
    return DeniedError(absl::StrCat("AK signature hash ", HashName(SignatureHashOf(sig)),
                                    " is not the AK's scheme hash ",
                                    HashName(SchemeHashOf(pub))));
  }
  return absl::OkStatus();
}

absl::Status CheckCreationInfo(const AkAttestation& ak, const Bytes& name) {
  const TPMS_CREATION_INFO& info = ak.attestation.attested.creation;
  TPMJOIN_ASSIGN_OR_RETURN(
      const Bytes creation_hash,
      Digest(EvpMdForTpmAlg(ak.public_area.nameAlg), {ak.creation_data_bytes}));
  if (ByteSpan(info.creationHash.buffer, info.creationHash.size) != ByteSpan(creation_hash)) {
    return DeniedError(
        "create_attestation: creationHash is not the hash of create_data (the creation data "
        "is not the AK's)");
  }
  if (ByteSpan(info.objectName.name, info.objectName.size) != ByteSpan(name)) {
    return DeniedError(
        "create_attestation: the certified object's name is not the name of `public` (the "
        "attestation is for another key)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AkAttestation> ParseAkAttestation(const v1::TPMAttestationParameters& params) {
  AkAttestation ak;
  TPMJOIN_RETURN_IF_ERROR(
      ParseField(params.public_(), "attestation_params.public", &ak.public_bytes,
                 &ak.public_area));
  TPMJOIN_RETURN_IF_ERROR(ParseField(params.create_data(), "attestation_params.create_data",
                                     &ak.creation_data_bytes, &ak.creation_data));
  TPMJOIN_RETURN_IF_ERROR(ParseField(params.create_attestation(),
                                     "attestation_params.create_attestation",
                                     &ak.attestation_bytes, &ak.attestation));
  Bytes signature_bytes;
  TPMJOIN_RETURN_IF_ERROR(ParseField(params.create_signature(),
                                     "attestation_params.create_signature", &signature_bytes,
                                     &ak.signature));
  return ak;
}

absl::StatusOr<AkIdentity> CheckAkAttestation(const AkAttestation& ak) {
  const TPMT_PUBLIC& pub = ak.public_area;
  TPMJOIN_RETURN_IF_ERROR(CheckAttestHeader(ak.attestation));
  if (!IsAcceptedHash(pub.nameAlg)) {
    return DeniedError(absl::StrCat("AK nameAlg ", HashName(pub.nameAlg),
                                    " is not SHA-256, SHA-384 or SHA-512"));
  }
  TPMJOIN_RETURN_IF_ERROR(CheckAttributes(pub.objectAttributes));
  TPMJOIN_RETURN_IF_ERROR(CheckKeyParameters(pub));
  AkIdentity identity;
  TPMJOIN_ASSIGN_OR_RETURN(identity.name, ObjectName(pub.nameAlg, ak.public_bytes));
  TPMJOIN_RETURN_IF_ERROR(CheckCreationInfo(ak, identity.name));
  TPMJOIN_RETURN_IF_ERROR(CheckSignatureAlgorithm(pub, ak.signature));
  auto key = PublicKeyFromTpmt(pub);
  if (!key.ok()) {
    return DeniedError(absl::StrCat("AK public key is unusable: ", key.status().message()));
  }
  TPMJOIN_RETURN_IF_ERROR(VerifyTpmSignature(key->get(), ak.signature, ak.attestation_bytes));
  identity.algorithm = absl::StrCat(KeyTypeName(key->get()), "-",
                                    pub.type == TPM2_ALG_RSA ? "rsassa" : "ecdsa", "-",
                                    HashName(SchemeHashOf(pub)));
  return identity;
}

}  // namespace tpmjoin::verifier
