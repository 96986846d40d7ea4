#include "src/agent/ek.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "absl/strings/str_format.h"
#include "src/agent/ek_template.h"
#include "src/agent/nv.h"
#include "src/agent/tr_public.h"
#include "src/common/ek_cert.h"
#include "src/common/errors.h"
#include "src/common/keys.h"
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

// TPM2_CreatePrimary in the endorsement hierarchy with EkCreationTemplate.
absl::StatusOr<Ek> CreateEk(ESYS_CONTEXT* esys, const EkProfile& profile,
                            const std::vector<TPM2_HANDLE>& nv_handles,
                            const AgentConfig& config) {
  TPM2B_PUBLIC in_public = {};
  TPMJOIN_ASSIGN_OR_RETURN(in_public.publicArea,
                           EkCreationTemplate(esys, profile, nv_handles, config.owner_auth));
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
    FlushObjectOfRejectedResponse(esys, rc);
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

absl::Status Describe(Ek* ek) {
  TPMJOIN_ASSIGN_OR_RETURN(EvpPkeyPtr key, PublicKeyFromTpmt(ek->public_area.publicArea));
  TPMJOIN_ASSIGN_OR_RETURN(ek->identity, DescribeEkPublic(std::move(key)));
  return absl::OkStatus();
}

// The ECC profile of an ek_cert_file: by its key's curve.
absl::StatusOr<const EkProfile*> EccProfileOfCertificate(const Bytes& der,
                                                         const std::string& path) {
  TPMJOIN_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificateDer(der));
  TPMJOIN_ASSIGN_OR_RETURN(EvpPkeyPtr key, CertificatePublicKey(cert.get()));
  const EkProfile* profile = EccProfileForCurve(TpmCurveOfKey(key.get()));
  if (profile == nullptr) {
    return InvalidArgumentError(absl::StrFormat(
        "config key \"ek_cert_file\" (\"%s\") holds a %s certificate, but ek_algorithm is "
        "\"ecc\" (EK certificates on NIST P-256, P-384 or P-521)",
        path, KeyTypeName(key.get())));
  }
  return profile;
}

// The first remembered EK that is still the persistent EK of its profile
// (one TPM2_ReadPublic per distinct profile tried). Profiles whose
// persistent handle turned out empty are added to `absent`.
absl::StatusOr<std::optional<Ek>> OpenRememberedEk(ESYS_CONTEXT* esys, KeyAlgorithm algorithm,
                                                   absl::Span<const RememberedEk> remembered,
                                                   std::vector<const EkProfile*>* absent) {
  std::vector<const EkProfile*> tried;
  for (const RememberedEk& entry : remembered) {
    const EkProfile* profile = ProfileNamed(entry.profile_name);
    if (profile == nullptr || profile->algorithm != algorithm ||
        std::find(tried.begin(), tried.end(), profile) != tried.end()) {
      continue;
    }
    tried.push_back(profile);
    absl::StatusOr<std::optional<Ek>> ek = OpenPersistentEk(esys, *profile);
    if (!ek.ok()) {
      if (AbiCodeOf(ek.status()) == AbiCode::kTpmUnavailable) return ek.status();
      continue;  // the usual search reports what is wrong
    }
    if (!*ek) {
      absent->push_back(profile);
      continue;
    }
    TPMJOIN_RETURN_IF_ERROR(Describe(&**ek));
    for (const RememberedEk& other : remembered) {
      if (other.profile_name == profile->name && other.ek_pub_hash == (*ek)->identity.pub_hash) {
        return ek;
      }
    }
  }
  return std::optional<Ek>();
}

}  // namespace

absl::StatusOr<Ek> LoadEk(TpmConnection& tpm, const AgentConfig& config,
                          absl::Span<const RememberedEk> remembered) {
  ESYS_CONTEXT* esys = tpm.esys();
  // Which profile: RSA is always L-1. For ECC, the certificate decides: the
  // file's curve, else the NV range, listed once instead of probing index
  // by index (unless an earlier join's EK is still there).
  const EkProfile* profile = &RsaLowProfile();
  std::optional<Bytes> file_cert;
  std::optional<std::vector<TPM2_HANDLE>> nv_handles;
  std::vector<const EkProfile*> no_persistent_ek;  // known without asking again
  if (config.ek_algorithm == KeyAlgorithm::kEcc) {
    if (config.ek_cert_file) {
      TPMJOIN_ASSIGN_OR_RETURN(file_cert, ReadCertFile(*config.ek_cert_file));
      TPMJOIN_ASSIGN_OR_RETURN(profile,
                               EccProfileOfCertificate(*file_cert, *config.ek_cert_file));
    } else {
      TPMJOIN_ASSIGN_OR_RETURN(
          std::optional<Ek> known,
          OpenRememberedEk(esys, KeyAlgorithm::kEcc, remembered, &no_persistent_ek));
      if (known) return *std::move(known);
      TPMJOIN_ASSIGN_OR_RETURN(nv_handles, ListHandles(esys, kEkNvFirst, kEkNvCount));
      profile = &EccLowProfile();
      for (const EkProfile& candidate : EccProfiles()) {
        if (Contains(*nv_handles, candidate.cert_index)) {
          profile = &candidate;
          break;
        }
      }
    }
  }

  std::optional<Ek> persistent;
  if (std::find(no_persistent_ek.begin(), no_persistent_ek.end(), profile) ==
      no_persistent_ek.end()) {
    TPMJOIN_ASSIGN_OR_RETURN(persistent, OpenPersistentEk(esys, *profile));
  }
  Ek ek;
  if (persistent) {
    ek = std::move(*persistent);
  } else {
    // Only the low range has an EK template and nonce in NV to look for.
    if (!nv_handles && profile->template_index != 0) {
      TPMJOIN_ASSIGN_OR_RETURN(nv_handles, ListHandles(esys, kEkNvFirst, kEkNvCount));
    }
    TPMJOIN_ASSIGN_OR_RETURN(
        ek, CreateEk(esys, *profile, nv_handles ? *nv_handles : std::vector<TPM2_HANDLE>(),
                     config));
  }
  TPMJOIN_RETURN_IF_ERROR(Describe(&ek));
  ek.nv_handles = std::move(nv_handles);
  ek.cert_der = std::move(file_cert);
  return ek;
}

absl::Status ReadEkCertificate(TpmConnection& tpm, const AgentConfig& config, Ek* ek) {
  const EkProfile& profile = *ek->profile;
  if (config.ek_cert_file) {
    if (!ek->cert_der) {
      TPMJOIN_ASSIGN_OR_RETURN(ek->cert_der, ReadCertFile(*config.ek_cert_file));
    }
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
  // A file that is no certificate is the caller's mistake (INVALID_ARGUMENT);
  // an NV index that holds none is the TPM's (TPM), as below.
  const auto from_source = [&](const absl::Status& status) {
    return config.ek_cert_file
               ? Annotate(status, source)
               : TpmError(absl::StrFormat("%s: %s", source, status.message()));
  };
  const absl::StatusOr<Bytes> cert_pkix = CertificatePkixDer(*ek->cert_der);
  if (!cert_pkix.ok()) return from_source(cert_pkix.status());
  if (*cert_pkix != ek->identity.pkix_der) {
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
