#include "src/agent/ek_profile.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

// PolicySecret(TPM_RH_ENDORSEMENT), SHA-256: the low-range EK authPolicy
// ("PolicyA").
constexpr uint8_t kPolicyA256[] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

// PolicyOR(PolicyA, PolicyC) ("PolicyB"), the high-range EK authPolicy, for
// SHA-256 (H-2), SHA-384 (H-3) and SHA-512 (H-4).
constexpr uint8_t kPolicyB256[] = {
    0xca, 0x3d, 0x0a, 0x99, 0xa2, 0xb9, 0x39, 0x06, 0xf7, 0xa3, 0x34, 0x24, 0x14, 0xef, 0xcf, 0xb3,
    0xa3, 0x85, 0xd4, 0x4c, 0xd1, 0xfd, 0x45, 0x90, 0x89, 0xd1, 0x9b, 0x50, 0x71, 0xc0, 0xb7, 0xa0};
constexpr uint8_t kPolicyB384[] = {
    0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc, 0xf5, 0xfd, 0x3a, 0x1a,
    0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4, 0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca,
    0xcb, 0x47, 0xba, 0x09, 0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12};
constexpr uint8_t kPolicyB512[] = {
    0xb8, 0x22, 0x1c, 0xa6, 0x9e, 0x85, 0x50, 0xa4, 0x91, 0x4d, 0xe3, 0xfa, 0xa6, 0xa1, 0x8c, 0x07,
    0x2c, 0xc0, 0x12, 0x08, 0x07, 0x3a, 0x92, 0x8d, 0x5d, 0x66, 0xd5, 0x9e, 0xf7, 0x9e, 0x49, 0xa4,
    0x29, 0xc4, 0x1a, 0x6b, 0x26, 0x95, 0x71, 0xd5, 0x7e, 0xdb, 0x25, 0xfb, 0xdb, 0x18, 0x38, 0x42,
    0x56, 0x08, 0xb4, 0x13, 0xcd, 0x61, 0x6a, 0x5f, 0x6d, 0xb5, 0xb6, 0x07, 0x1a, 0xf9, 0x9b, 0xea};

constexpr TPMA_OBJECT kLowRangeAttributes =
    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
    TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
constexpr TPMA_OBJECT kHighRangeAttributes = kLowRangeAttributes | TPMA_OBJECT_USERWITHAUTH;

constexpr size_t kRsaNonceSize = 256;  // RSA 2048 unique field
constexpr size_t kP256NonceSize = 32;  // P-256 coordinate

template <typename Digest>
void SetPolicy(const Digest& digest, TPMT_PUBLIC* pub) {
  pub->authPolicy.size = sizeof(digest);
  std::copy(std::begin(digest), std::end(digest), pub->authPolicy.buffer);
}

TPMT_PUBLIC EccTemplate(TPMI_ALG_HASH name_alg, TPMA_OBJECT attributes, UINT16 aes_bits,
                        TPM2_ECC_CURVE curve) {
  TPMT_PUBLIC pub = {};
  pub.type = TPM2_ALG_ECC;
  pub.nameAlg = name_alg;
  pub.objectAttributes = attributes;
  pub.parameters.eccDetail.symmetric = {TPM2_ALG_AES, {aes_bits}, {TPM2_ALG_CFB}};
  pub.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  pub.parameters.eccDetail.curveID = curve;
  pub.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  return pub;
}

// B.3.3 Template L-1: RSA 2048 (unique: 256 zero bytes).
TPMT_PUBLIC RsaL1() {
  TPMT_PUBLIC pub = {};
  pub.type = TPM2_ALG_RSA;
  pub.nameAlg = TPM2_ALG_SHA256;
  pub.objectAttributes = kLowRangeAttributes;
  SetPolicy(kPolicyA256, &pub);
  pub.parameters.rsaDetail.symmetric = {TPM2_ALG_AES, {128}, {TPM2_ALG_CFB}};
  pub.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  pub.parameters.rsaDetail.keyBits = 2048;
  pub.parameters.rsaDetail.exponent = 0;
  pub.unique.rsa.size = kRsaNonceSize;
  return pub;
}

// B.3.4 Template L-2: ECC NIST P-256 (unique: 32 + 32 zero bytes).
TPMT_PUBLIC EccL2() {
  TPMT_PUBLIC pub = EccTemplate(TPM2_ALG_SHA256, kLowRangeAttributes, 128, TPM2_ECC_NIST_P256);
  SetPolicy(kPolicyA256, &pub);
  pub.unique.ecc.x.size = kP256NonceSize;
  pub.unique.ecc.y.size = kP256NonceSize;
  return pub;
}

// B.4.4 high-range templates: userWithAuth, PolicyB, empty unique.
TPMT_PUBLIC EccH2() {
  TPMT_PUBLIC pub = EccTemplate(TPM2_ALG_SHA256, kHighRangeAttributes, 128, TPM2_ECC_NIST_P256);
  SetPolicy(kPolicyB256, &pub);
  return pub;
}

TPMT_PUBLIC EccH3() {
  TPMT_PUBLIC pub = EccTemplate(TPM2_ALG_SHA384, kHighRangeAttributes, 256, TPM2_ECC_NIST_P384);
  SetPolicy(kPolicyB384, &pub);
  return pub;
}

TPMT_PUBLIC EccH4() {
  TPMT_PUBLIC pub = EccTemplate(TPM2_ALG_SHA512, kHighRangeAttributes, 256, TPM2_ECC_NIST_P521);
  SetPolicy(kPolicyB512, &pub);
  return pub;
}

constexpr EkProfile kRsaL1 = {"L-1",      KeyAlgorithm::kRsa, TPM2_ECC_NONE, 0x01c00002,
                              0x01c00003, 0x01c00004,         0x81010001,    RsaL1};
constexpr EkProfile kEccProfiles[] = {
    {"L-2", KeyAlgorithm::kEcc, TPM2_ECC_NIST_P256, 0x01c0000a, 0x01c0000b, 0x01c0000c,
     0x81010002, EccL2},
    {"H-2", KeyAlgorithm::kEcc, TPM2_ECC_NIST_P256, 0x01c00014, 0, 0, 0x81010014, EccH2},
    {"H-3", KeyAlgorithm::kEcc, TPM2_ECC_NIST_P384, 0x01c00016, 0, 0, 0x81010016, EccH3},
    {"H-4", KeyAlgorithm::kEcc, TPM2_ECC_NIST_P521, 0x01c00018, 0, 0, 0x81010018, EccH4},
};

bool SameSymmetric(const TPMT_SYM_DEF_OBJECT& a, const TPMT_SYM_DEF_OBJECT& b) {
  return a.algorithm == b.algorithm && a.keyBits.sym == b.keyBits.sym && a.mode.sym == b.mode.sym;
}

}  // namespace

const EkProfile& RsaLowProfile() { return kRsaL1; }
const EkProfile& EccLowProfile() { return kEccProfiles[0]; }
absl::Span<const EkProfile> EccProfiles() { return kEccProfiles; }

const EkProfile* ProfileNamed(absl::string_view name) {
  if (name == kRsaL1.name) return &kRsaL1;
  for (const EkProfile& profile : kEccProfiles) {
    if (name == profile.name) return &profile;
  }
  return nullptr;
}

const EkProfile* EccProfileForCurve(TPM2_ECC_CURVE curve) {
  for (const EkProfile& profile : kEccProfiles) {
    if (profile.curve == curve) return &profile;  // in NV order: L-2 before H-2 for P-256
  }
  return nullptr;
}

bool LooksLikeEk(const TPMT_PUBLIC& pub) {
  constexpr TPMA_OBJECT kRequired = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED |
                                    TPMA_OBJECT_DECRYPT;
  return (pub.type == TPM2_ALG_RSA || pub.type == TPM2_ALG_ECC) &&
         (pub.objectAttributes & kRequired) == kRequired &&
         (pub.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) == 0;
}

absl::Status CheckNvEkTemplate(const EkProfile& profile, const TPMT_PUBLIC& pub) {
  const TPMT_PUBLIC want = profile.make_template();
  const auto reject = [&](absl::string_view why) {
    return TpmError(absl::StrFormat(
        "the EK template in NV index 0x%08x is not an %s EK template: %s", profile.template_index,
        profile.name, why));
  };
  if (pub.type != want.type) {
    return reject(want.type == TPM2_ALG_RSA ? "not an RSA key" : "not an ECC key");
  }
  if (!LooksLikeEk(pub)) {
    return reject(
        "not a restricted decryption key bound to the TPM (fixedTPM, fixedParent, "
        "sensitiveDataOrigin, restricted, decrypt, not sign)");
  }
  if (pub.nameAlg != want.nameAlg) return reject("its nameAlg is not SHA-256");
  if (pub.type == TPM2_ALG_RSA) {
    const TPMS_RSA_PARMS& got = pub.parameters.rsaDetail;
    const TPMS_RSA_PARMS& exp = want.parameters.rsaDetail;
    if (got.keyBits != exp.keyBits || (got.exponent != 0 && got.exponent != 65537)) {
      return reject("not an RSA 2048 key with the default exponent");
    }
    if (!SameSymmetric(got.symmetric, exp.symmetric) || got.scheme.scheme != TPM2_ALG_NULL) {
      return reject("its symmetric algorithm is not AES-128-CFB, or it has a scheme");
    }
  } else {
    const TPMS_ECC_PARMS& got = pub.parameters.eccDetail;
    const TPMS_ECC_PARMS& exp = want.parameters.eccDetail;
    if (got.curveID != exp.curveID) return reject("its curve is not NIST P-256");
    if (!SameSymmetric(got.symmetric, exp.symmetric) || got.scheme.scheme != TPM2_ALG_NULL ||
        got.kdf.scheme != TPM2_ALG_NULL) {
      return reject("its symmetric algorithm is not AES-128-CFB, or it has a scheme or KDF");
    }
  }
  const bool usable_with_policy =
      pub.authPolicy.size == want.authPolicy.size &&
      std::memcmp(pub.authPolicy.buffer, want.authPolicy.buffer, want.authPolicy.size) == 0;
  if ((pub.objectAttributes & TPMA_OBJECT_USERWITHAUTH) == 0 && !usable_with_policy) {
    return reject(
        "only its authPolicy can authorize it, and that is not "
        "PolicySecret(TPM_RH_ENDORSEMENT)");
  }
  return absl::OkStatus();
}

bool ApplyEkNonce(ByteSpan nonce, TPMT_PUBLIC* pub) {
  if (pub->type == TPM2_ALG_RSA) {
    if (nonce.size() > kRsaNonceSize) return false;
    pub->unique.rsa = {};
    std::copy(nonce.begin(), nonce.end(), pub->unique.rsa.buffer);
    pub->unique.rsa.size = kRsaNonceSize;
    return true;
  }
  if (nonce.size() > kP256NonceSize) return false;
  pub->unique.ecc = {};
  std::copy(nonce.begin(), nonce.end(), pub->unique.ecc.x.buffer);
  pub->unique.ecc.x.size = kP256NonceSize;
  pub->unique.ecc.y.size = kP256NonceSize;
  return true;
}

}  // namespace tpmjoin::agent
