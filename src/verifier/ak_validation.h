// The Attestation Key, judged as Teleport's Auth Server (go-attestation)
// does and more strictly (REFERENCE.md section 3): the AK's TPMT_PUBLIC, the
// TPMS_CREATION_DATA of its creation, and TPM2_CertifyCreation's TPMS_ATTEST
// and TPMT_SIGNATURE made with the AK itself.
#ifndef TPMJOIN_SRC_VERIFIER_AK_VALIDATION_H_
#define TPMJOIN_SRC_VERIFIER_AK_VALIDATION_H_

#include <tss2/tss2_tpm2_types.h>

#include <string>

#include "absl/status/statusor.h"
#include "abi/tpmjoin.pb.h"
#include "src/common/bytes.h"

namespace tpmjoin::verifier {

// The four structures of attestation_params, parsed, with the bytes they
// were parsed from (hashes and the signature cover those bytes).
struct AkAttestation {
  Bytes public_bytes;
  TPMT_PUBLIC public_area;
  Bytes creation_data_bytes;
  TPMS_CREATION_DATA creation_data;
  Bytes attestation_bytes;
  TPMS_ATTEST attestation;
  TPMT_SIGNATURE signature;
};

// Parses each structure strictly (tss2-mu, sizes checked, no trailing
// bytes). BAD_MESSAGE naming the field otherwise.
absl::StatusOr<AkAttestation> ParseAkAttestation(const v1::TPMAttestationParameters& params);

struct AkIdentity {
  Bytes name;             // nameAlg || H_nameAlg(public_bytes)
  std::string algorithm;  // e.g. "rsa2048-rsassa-sha256", "ecc-p256-ecdsa-sha256"
};

// Runs every check on a parsed attestation: magic and type, nameAlg,
// attributes (fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign;
// not decrypt), key parameters (RSA >= 2048 bits, exponent 65537, RSASSA; or
// ECC P-256/P-384, ECDSA; SHA-256/384/512; no symmetric or KDF), the
// creationHash over create_data, the certified name = name of `public`, and
// the signature with the AK's key. DENIED saying which check failed.
absl::StatusOr<AkIdentity> CheckAkAttestation(const AkAttestation& ak);

}  // namespace tpmjoin::verifier

#endif  // TPMJOIN_SRC_VERIFIER_AK_VALIDATION_H_
