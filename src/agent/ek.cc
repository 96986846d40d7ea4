#include "src/agent/ek.h"

#include <fstream>
#include <iterator>

#include "absl/strings/str_format.h"
#include "src/agent/nv.h"
#include "src/agent/tr_public.h"
#include "src/common/ek_cert.h"
#include "src/common/errors.h"
#include "src/common/tpm_mu.h"

namespace tpmjoin::agent {
namespace {

// Range holding the EK certificates, nonces and templates (TCG EK
// Credential Profile, section 2.2.1.5).
constexpr TPM2_HANDLE kEkNvFirst = 0x01c00000;
constexpr UINT32 kEkNvCount = 0x20;

bool Contains(const std::vector<TPM2_HANDLE>& handles, TPM2_HANDLE h) {
  return h != 0 && std::find(handles.begin(), handles.end(), h) != handles.end();
}

absl::StatusOr<Bytes> ReadCertFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return InvalidArgumentError(
        absl::StrFormat("config key \"ek_cert_file\": cannot read \"%s\"", path));
  }
  const Bytes contents((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  auto der = ExtractCertificateDer(contents);
  if (!der.ok()) {
    return InvalidArgumentError(absl::StrFormat("config key \"ek_cert_file\" (\"%s\"): %s", path,
                                                der.status().message()));
  }
  TPMJOIN_RETURN_IF_ERROR(Annotate(ParseCertificateDer(*der).status(),
                                   absl::StrFormat("ek_cert_file \"%s\"", path)));
  return der;
}

// Opens the persistent EK of `profile`; nullopt when the handle is empty.
absl::StatusOr<std::optional<Ek>> OpenPersistentEk(ESYS_CONTEXT* esys, const EkProfile& profile) {
  ESYS_TR tr = ESYS_TR_NONE;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_TR_FromTPMPublic(esys, profile.persistent_handle, ESYS_TR_NONE, ESYS_TR_NONE,
                                 ESYS_TR_NONE, &tr);
  });
  if (IsHandleMissing(rc)) return std::optional<Ek>();
  if (rc != TSS2_RC_SUCCESS) {
    return TssError(absl::StrFormat("TPM2_ReadPublic(0x%08x)", profile.persistent_handle), rc);
  }
  Ek ek;
  ek.profile = &profile;
  ek.handle = TpmHandle(esys, tr, TpmHandle::Kind::kClose);
  ek.persistent = true;
  TPMJOIN_ASSIGN_OR_RETURN(ek.public_area, ObjectPublic(esys, tr));
  if (!LooksLikeEk(ek.public_area.publicArea)) {
    return TpmError(absl::StrFormat(
        "the persistent object at 0x%08x is not an endorsement key (not a restricted "
        "decryption key)",
        profile.persistent_handle));
  }
  return std::optional<Ek>(std::move(ek));
}

// TPM2_CreatePrimary in the endorsement hierarchy with the profile's
// template, or the template / nonce provisioned in NV.
absl::StatusOr<Ek> CreateEk(ESYS_CONTEXT* esys, const EkProfile& profile,
                            const std::vector<TPM2_HANDLE>& nv_handles,
                            const AgentConfig& config) {
  std::optional<Bytes> nonce;
  std::optional<TPMT_PUBLIC> nv_template;
  if (Contains(nv_handles, profile.template_index)) {
    TPMJOIN_ASSIGN_OR_RETURN(auto index, OpenNvIndex(esys, profile.template_index));
    if (index) {
      TPMJOIN_ASSIGN_OR_RETURN(Bytes bytes,
                               ReadNv(esys, *index, 0, index->pub.nvPublic.dataSize,
                                      config.owner_auth));
      auto parsed = Unmarshal<TPMT_PUBLIC>(bytes, "EK template in NV");
      if (!parsed.ok()) return TpmError(parsed.status().message());
      nv_template = *parsed;
    }
  }
  if (Contains(nv_handles, profile.nonce_index)) {
    TPMJOIN_ASSIGN_OR_RETURN(auto index, OpenNvIndex(esys, profile.nonce_index));
    if (index) {
      TPMJOIN_ASSIGN_OR_RETURN(nonce, ReadNv(esys, *index, 0, index->pub.nvPublic.dataSize,
                                             config.owner_auth));
    }
  }
  if (!nv_template && profile.make_template == nullptr) {
    return TpmError(absl::StrFormat(
        "the TPM has an %s EK certificate but no EK at 0x%08x, and the %s template is not "
        "built in: provision the EK as a persistent key (e.g. tpm2_createek + "
        "tpm2_evictcontrol)",
        profile.name, profile.persistent_handle, profile.name));
  }
  TPM2B_PUBLIC in_public = {};
  in_public.publicArea =
      nv_template ? *nv_template
                  : profile.make_template(nonce ? std::optional<ByteSpan>(*nonce) : std::nullopt);
  if (nv_template && nonce) {
    // EK Credential Profile: the nonce goes into the unique field.
    if (in_public.publicArea.type == TPM2_ALG_RSA) {
      ToTpm2b(ByteSpan(*nonce).subspan(0, std::min<size_t>(nonce->size(), 256)),
              &in_public.publicArea.unique.rsa);
    } else {
      ToTpm2b(ByteSpan(*nonce).subspan(0, std::min<size_t>(nonce->size(), 128)),
              &in_public.publicArea.unique.ecc.x);
    }
  }
  TPMJOIN_RETURN_IF_ERROR(SetAuth(esys, ESYS_TR_RH_ENDORSEMENT, config.endorsement_auth));
  TPM2B_SENSITIVE_CREATE in_sensitive = {};
  TPM2B_DATA outside_info = {};
  TPML_PCR_SELECTION pcrs = {};
  ESYS_TR tr = ESYS_TR_NONE;
  TPM2B_PUBLIC* out_public = nullptr;
  const TSS2_RC rc = WithRetry([&] {
    return Esys_CreatePrimary(esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                              ESYS_TR_NONE, &in_sensitive, &in_public, &outside_info, &pcrs, &tr,
                              &out_public, nullptr, nullptr, nullptr);
  });
  if (rc != TSS2_RC_SUCCESS) {
    return TssError(absl::StrFormat("TPM2_CreatePrimary(%s EK, endorsement hierarchy)",
                                    profile.name),
                    rc);
  }
  EsysPtr<TPM2B_PUBLIC> owned(out_public);
  Ek ek;
  ek.profile = &profile;
  ek.handle = TpmHandle(esys, tr, TpmHandle::Kind::kFlush);
  ek.public_area = *out_public;
  return ek;
}

}  // namespace

absl::StatusOr<Ek> LoadEk(TpmConnection& tpm, const AgentConfig& config) {
  ESYS_CONTEXT* esys = tpm.esys();
  // Which profile: RSA is always L-1. For ECC, the certificate decides, so
  // list the EK NV range once instead of probing index by index.
  const EkProfile* profile = &RsaLowProfile();
  std::optional<std::vector<TPM2_HANDLE>> nv_handles;
  if (config.ek_algorithm == KeyAlgorithm::kEcc) {
    TPMJOIN_ASSIGN_OR_RETURN(nv_handles, ListHandles(esys, kEkNvFirst, kEkNvCount));
    profile = &EccLowProfile();
    if (!config.ek_cert_file) {
      for (const EkProfile& candidate : EccProfiles()) {
        if (Contains(*nv_handles, candidate.cert_index)) {
          profile = &candidate;
          break;
        }
      }
    }
  }

  TPMJOIN_ASSIGN_OR_RETURN(std::optional<Ek> persistent, OpenPersistentEk(esys, *profile));
  Ek ek;
  if (persistent) {
    ek = std::move(*persistent);
  } else {
    if (!nv_handles) {
      TPMJOIN_ASSIGN_OR_RETURN(nv_handles, ListHandles(esys, kEkNvFirst, kEkNvCount));
    }
    TPMJOIN_ASSIGN_OR_RETURN(ek, CreateEk(esys, *profile, *nv_handles, config));
  }
  TPMJOIN_ASSIGN_OR_RETURN(EvpPkeyPtr key, PublicKeyFromTpmt(ek.public_area.publicArea));
  TPMJOIN_ASSIGN_OR_RETURN(ek.identity, DescribeEkPublic(std::move(key)));
  ek.nv_handles = std::move(nv_handles);
  return ek;
}

absl::Status ReadEkCertificate(TpmConnection& tpm, const AgentConfig& config, Ek* ek) {
  const EkProfile& profile = *ek->profile;
  if (config.ek_cert_file) {
    TPMJOIN_ASSIGN_OR_RETURN(ek->cert_der, ReadCertFile(*config.ek_cert_file));
  } else if (!ek->nv_handles || Contains(*ek->nv_handles, profile.cert_index)) {
    TPMJOIN_ASSIGN_OR_RETURN(auto index, OpenNvIndex(tpm.esys(), profile.cert_index));
    if (index) {
      TPMJOIN_ASSIGN_OR_RETURN(ek->cert_der,
                               ReadNvCertificate(tpm.esys(), *index, config.owner_auth));
    }
  }
  if (!ek->cert_der) return absl::OkStatus();

  const std::string source =
      config.ek_cert_file ? absl::StrFormat("ek_cert_file \"%s\"", *config.ek_cert_file)
                          : absl::StrFormat("NV index 0x%08x", profile.cert_index);
  TPMJOIN_ASSIGN_OR_RETURN(X509Ptr cert, Annotate(ParseCertificateDer(*ek->cert_der), source));
  TPMJOIN_ASSIGN_OR_RETURN(EvpPkeyPtr cert_key,
                           Annotate(CertificatePublicKey(cert.get()), source));
  TPMJOIN_ASSIGN_OR_RETURN(Bytes cert_pkix, PkixDer(cert_key.get()));
  if (cert_pkix != ek->identity.pkix_der) {
    // A wrong file is the caller's mistake; a wrong certificate in NV is
    // the TPM's (or its provisioning's).
    const auto make_error = config.ek_cert_file ? InvalidArgumentError : TpmError;
    return make_error(absl::StrFormat(
        "the EK certificate from %s is not for this TPM's %s EK (%s, %s): its public key "
        "differs",
        source, profile.name, ek->identity.key_type,
        ek->persistent ? absl::StrFormat("persistent at 0x%08x", profile.persistent_handle)
                       : std::string("made by CreatePrimary")));
  }
  return absl::OkStatus();
}

}  // namespace tpmjoin::agent
