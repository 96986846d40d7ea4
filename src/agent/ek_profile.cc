#include "src/agent/ek_profile.h"

#include <algorithm>

namespace tpmjoin::agent {
namespace {

// PolicySecret(TPM_RH_ENDORSEMENT), SHA-256: the low-range EK authPolicy.
constexpr uint8_t kPolicyA256[] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

// PolicyOR(PolicyA, PolicyC), SHA-384: the H-3 EK authPolicy.
constexpr uint8_t kPolicyOr384[] = {
    0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc, 0xf5, 0xfd, 0x3a, 0x1a,
    0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4, 0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca,
    0xcb, 0x47, 0xba, 0x09, 0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12};

constexpr TPMA_OBJECT kLowRangeAttributes =
    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
    TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;

template <typename Digest>
void SetPolicy(const Digest& digest, TPMT_PUBLIC* pub) {
  pub->authPolicy.size = sizeof(digest);
  std::copy(std::begin(digest), std::end(digest), pub->authPolicy.buffer);
}

TPMT_PUBLIC RsaL1(std::optional<ByteSpan> nonce) {
  TPMT_PUBLIC pub = {};
  pub.type = TPM2_ALG_RSA;
  pub.nameAlg = TPM2_ALG_SHA256;
  pub.objectAttributes = kLowRangeAttributes;
  SetPolicy(kPolicyA256, &pub);
  pub.parameters.rsaDetail.symmetric = {TPM2_ALG_AES, {128}, {TPM2_ALG_CFB}};
  pub.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  pub.parameters.rsaDetail.keyBits = 2048;
  pub.parameters.rsaDetail.exponent = 0;
  pub.unique.rsa.size = 256;  // zeros, or the nonce padded with zeros
  if (nonce) std::copy_n(nonce->begin(), std::min<size_t>(nonce->size(), 256), pub.unique.rsa.buffer);
  return pub;
}

TPMT_PUBLIC EccL2(std::optional<ByteSpan> nonce) {
  TPMT_PUBLIC pub = {};
  pub.type = TPM2_ALG_ECC;
  pub.nameAlg = TPM2_ALG_SHA256;
  pub.objectAttributes = kLowRangeAttributes;
  SetPolicy(kPolicyA256, &pub);
  pub.parameters.eccDetail.symmetric = {TPM2_ALG_AES, {128}, {TPM2_ALG_CFB}};
  pub.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  pub.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  pub.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  pub.unique.ecc.x.size = 32;
  pub.unique.ecc.y.size = 32;
  if (nonce) std::copy_n(nonce->begin(), std::min<size_t>(nonce->size(), 32), pub.unique.ecc.x.buffer);
  return pub;
}

TPMT_PUBLIC EccH3(std::optional<ByteSpan> /*nonce: low range only*/) {
  TPMT_PUBLIC pub = {};
  pub.type = TPM2_ALG_ECC;
  pub.nameAlg = TPM2_ALG_SHA384;
  pub.objectAttributes = kLowRangeAttributes | TPMA_OBJECT_USERWITHAUTH;
  SetPolicy(kPolicyOr384, &pub);
  pub.parameters.eccDetail.symmetric = {TPM2_ALG_AES, {256}, {TPM2_ALG_CFB}};
  pub.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  pub.parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
  pub.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  return pub;  // high range: empty unique
}

constexpr EkProfile kRsaL1 = {"L-1", KeyAlgorithm::kRsa, 0x01c00002, 0x01c00003, 0x01c00004,
                              0x81010001, RsaL1};
constexpr EkProfile kEccProfiles[] = {
    {"L-2", KeyAlgorithm::kEcc, 0x01c0000a, 0x01c0000b, 0x01c0000c, 0x81010002, EccL2},
    {"H-2", KeyAlgorithm::kEcc, 0x01c00014, 0, 0, 0x81010014, nullptr},
    {"H-3", KeyAlgorithm::kEcc, 0x01c00016, 0, 0, 0x81010016, EccH3},
    {"H-4", KeyAlgorithm::kEcc, 0x01c00018, 0, 0, 0x81010018, nullptr},
};

}  // namespace

const EkProfile& RsaLowProfile() { return kRsaL1; }
const EkProfile& EccLowProfile() { return kEccProfiles[0]; }
absl::Span<const EkProfile> EccProfiles() { return kEccProfiles; }

bool LooksLikeEk(const TPMT_PUBLIC& pub) {
  constexpr TPMA_OBJECT kRequired = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED |
                                    TPMA_OBJECT_DECRYPT;
  return (pub.type == TPM2_ALG_RSA || pub.type == TPM2_ALG_ECC) &&
         (pub.objectAttributes & kRequired) == kRequired &&
         (pub.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) == 0;
}

}  // namespace tpmjoin::agent
