#include "src/verifier/ek_profile.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "src/common/digest.h"
#include "src/common/errors.h"
#include "src/common/keys.h"

namespace tpmjoin::verifier {
namespace {

// TCG EK Credential Profile for TPM 2.0, templates L-1/L-2/H-1..H-7.
constexpr EkProfile kProfiles[] = {
    {"rsa2048", TPM2_ALG_SHA256, 128},  {"rsa3072", TPM2_ALG_SHA384, 256},
    {"rsa4096", TPM2_ALG_SHA384, 256},  {"ecc-p256", TPM2_ALG_SHA256, 128},
    {"ecc-p384", TPM2_ALG_SHA384, 256}, {"ecc-p521", TPM2_ALG_SHA512, 256},
};

}  // namespace

absl::StatusOr<EkProfile> EkProfileForKey(EVP_PKEY* ek) {
  const std::string type = KeyTypeName(ek);
  for (const EkProfile& profile : kProfiles) {
    if (type == profile.key_type) return profile;
  }
  return DeniedError(absl::StrCat("unsupported EK key ", type,
                                  " (want RSA 2048/3072/4096 or ECC P-256/P-384/P-521)"));
}

const EVP_MD* ProfileDigest(const EkProfile& profile) { return EvpMdForTpmAlg(profile.name_alg); }

const EVP_CIPHER* ProfileCipher(const EkProfile& profile) {
  return profile.aes_key_bits == 128 ? EVP_aes_128_cfb128() : EVP_aes_256_cfb128();
}

}  // namespace tpmjoin::verifier
