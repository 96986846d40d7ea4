#include "src/agent/ak.h"

#include <openssl/rand.h>

#include "src/agent/ek.h"
#include "src/agent/ek_session.h"
#include "src/common/errors.h"
#include "src/common/tpm_mu.h"

namespace tpmjoin::agent {

absl::StatusOr<TPM2B_PUBLIC> AkTemplate(KeyAlgorithm algorithm, bool random_unique) {
  TPM2B_PUBLIC out = {};
  TPMT_PUBLIC& pub = out.publicArea;
  pub.nameAlg = TPM2_ALG_SHA256;
  pub.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                         TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                         TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  constexpr int kUniqueBytes = 32;
  if (algorithm == KeyAlgorithm::kRsa) {
    pub.type = TPM2_ALG_RSA;
    pub.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    pub.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
    pub.parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
    pub.parameters.rsaDetail.keyBits = 2048;
    pub.parameters.rsaDetail.exponent = 0;
    if (random_unique) {
      pub.unique.rsa.size = kUniqueBytes;
      if (RAND_bytes(pub.unique.rsa.buffer, kUniqueBytes) != 1) return OpensslError("RAND_bytes");
    }
  } else {
    pub.type = TPM2_ALG_ECC;
    pub.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    pub.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    pub.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    pub.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    pub.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    if (random_unique) {
      pub.unique.ecc.x.size = kUniqueBytes;
      if (RAND_bytes(pub.unique.ecc.x.buffer, kUniqueBytes) != 1) {
        return OpensslError("RAND_bytes");
      }
    }
  }
  return out;
}

absl::StatusOr<AkAttestation> CertifyAkCreation(ESYS_CONTEXT* esys, ESYS_TR ak,
                                                const TPM2B_PUBLIC& ak_public,
                                                const TPM2B_CREATION_DATA& creation_data,
                                                const TPM2B_DIGEST& creation_hash,
                                                const TPMT_TK_CREATION& creation_ticket) {
  const TPM2B_DATA qualifying_data = {};
  const TPMT_SIG_SCHEME in_scheme = {TPM2_ALG_NULL, {}};  // the AK's own scheme
  TPM2B_ATTEST* certify_info = nullptr;
  TPMT_SIGNATURE* signature = nullptr;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_CertifyCreation(esys, ak, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                &qualifying_data, &creation_hash, &in_scheme, &creation_ticket,
                                &certify_info, &signature);
  });
  EsysPtr<TPM2B_ATTEST> owned_info(certify_info);
  EsysPtr<TPMT_SIGNATURE> owned_signature(signature);
  if (rc != TSS2_RC_SUCCESS) return TssError("TPM2_CertifyCreation(AK over its own creation)", rc);

  AkAttestation out;
  TPMJOIN_ASSIGN_OR_RETURN(out.public_area, Marshal(ak_public.publicArea));
  TPMJOIN_ASSIGN_OR_RETURN(out.creation_data, Marshal(creation_data.creationData));
  out.attestation.assign(certify_info->attestationData,
                         certify_info->attestationData + certify_info->size);
  TPMJOIN_ASSIGN_OR_RETURN(out.signature, Marshal(*signature));
  return out;
}

absl::StatusOr<Ak> CreatePrimaryAk(ESYS_CONTEXT* esys, KeyAlgorithm algorithm,
                                   absl::string_view owner_auth) {
  TPMJOIN_ASSIGN_OR_RETURN(const TPM2B_PUBLIC in_public, AkTemplate(algorithm, true));
  TPMJOIN_RETURN_IF_ERROR(SetAuth(esys, ESYS_TR_RH_OWNER, owner_auth));
  const TPM2B_SENSITIVE_CREATE in_sensitive = {};
  const TPM2B_DATA outside_info = {};
  const TPML_PCR_SELECTION creation_pcr = {};
  ESYS_TR tr = ESYS_TR_NONE;
  TPM2B_PUBLIC* out_public = nullptr;
  TPM2B_CREATION_DATA* creation_data = nullptr;
  TPM2B_DIGEST* creation_hash = nullptr;
  TPMT_TK_CREATION* creation_ticket = nullptr;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_CreatePrimary(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                              ESYS_TR_NONE, &in_sensitive, &in_public, &outside_info,
                              &creation_pcr, &tr, &out_public, &creation_data, &creation_hash,
                              &creation_ticket);
  });
  EsysPtr<TPM2B_PUBLIC> owned_public(out_public);
  EsysPtr<TPM2B_CREATION_DATA> owned_data(creation_data);
  EsysPtr<TPM2B_DIGEST> owned_hash(creation_hash);
  EsysPtr<TPMT_TK_CREATION> owned_ticket(creation_ticket);
  if (rc != TSS2_RC_SUCCESS) {
    FlushObjectOfRejectedResponse(esys, rc);
    return TssError("TPM2_CreatePrimary(AK, owner hierarchy)", rc);
  }
  Ak ak;
  ak.handle = TpmHandle(esys, tr, TpmHandle::Kind::kFlush);
  TPMJOIN_ASSIGN_OR_RETURN(ak.attestation, CertifyAkCreation(esys, tr, *out_public, *creation_data,
                                                             *creation_hash, *creation_ticket));
  return ak;
}

absl::StatusOr<TpmHandle> LoadChildAk(ESYS_CONTEXT* esys, const Ek& ek, EkSession& session,
                                      absl::string_view endorsement_auth,
                                      const TPM2B_PUBLIC& public_area,
                                      const TPM2B_PRIVATE& private_area, bool* blob_refused) {
  if (blob_refused != nullptr) *blob_refused = false;
  TPMJOIN_RETURN_IF_ERROR(session.PrepareUse(endorsement_auth, /*last_use=*/false));
  ESYS_TR tr = ESYS_TR_NONE;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_Load(esys, ek.handle.get(), session.get(), ESYS_TR_NONE, ESYS_TR_NONE,
                     &private_area, &public_area, &tr);
  });
  if (rc != TSS2_RC_SUCCESS) {
    FlushObjectOfRejectedResponse(esys, rc);
    if (blob_refused != nullptr) *blob_refused = IsParameterError(rc);
    return TssError("TPM2_Load(AK under the EK)", rc);
  }
  return TpmHandle(esys, tr, TpmHandle::Kind::kFlush);
}

absl::StatusOr<StorableAk> CreateChildAk(ESYS_CONTEXT* esys, const Ek& ek, EkSession& session,
                                         absl::string_view endorsement_auth,
                                         KeyAlgorithm algorithm) {
  TPMJOIN_ASSIGN_OR_RETURN(const TPM2B_PUBLIC in_public, AkTemplate(algorithm, false));
  TPMJOIN_RETURN_IF_ERROR(session.PrepareUse(endorsement_auth, /*last_use=*/false));
  const TPM2B_SENSITIVE_CREATE in_sensitive = {};
  const TPM2B_DATA outside_info = {};
  const TPML_PCR_SELECTION creation_pcr = {};
  TPM2B_PRIVATE* out_private = nullptr;
  TPM2B_PUBLIC* out_public = nullptr;
  TPM2B_CREATION_DATA* creation_data = nullptr;
  TPM2B_DIGEST* creation_hash = nullptr;
  TPMT_TK_CREATION* creation_ticket = nullptr;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_Create(esys, ek.handle.get(), session.get(), ESYS_TR_NONE, ESYS_TR_NONE,
                       &in_sensitive, &in_public, &outside_info, &creation_pcr, &out_private,
                       &out_public, &creation_data, &creation_hash, &creation_ticket);
  });
  EsysPtr<TPM2B_PRIVATE> owned_private(out_private);
  EsysPtr<TPM2B_PUBLIC> owned_public(out_public);
  EsysPtr<TPM2B_CREATION_DATA> owned_data(creation_data);
  EsysPtr<TPM2B_DIGEST> owned_hash(creation_hash);
  EsysPtr<TPMT_TK_CREATION> owned_ticket(creation_ticket);
  if (rc != TSS2_RC_SUCCESS) return TssError("TPM2_Create(AK under the EK)", rc);

  StorableAk out;
  out.public_area = *out_public;
  out.private_area = *out_private;
  TPMJOIN_ASSIGN_OR_RETURN(out.ak.handle, LoadChildAk(esys, ek, session, endorsement_auth,
                                                      *out_public, *out_private));
  TPMJOIN_ASSIGN_OR_RETURN(out.ak.attestation,
                           CertifyAkCreation(esys, out.ak.handle.get(), *out_public,
                                             *creation_data, *creation_hash, *creation_ticket));
  return out;
}

}  // namespace tpmjoin::agent
