#include "src/agent/join_session.h"

#include "abi/tpmjoin.pb.h"
#include "absl/strings/str_cat.h"
#include "src/agent/activate.h"
#include "src/agent/challenge.h"
#include "src/agent/secret_message.h"
#include "src/common/errors.h"

namespace tpmjoin::agent {
namespace {

namespace wire = ::tpmjoin::v1;

}  // namespace

JoinSession::JoinSession(AgentConfig config, std::unique_ptr<TpmConnection> tpm)
    : config_(std::move(config)), tpm_(std::move(tpm)) {
  if (config_.ak_cache_dir) cache_.emplace(*config_.ak_cache_dir);
}

absl::StatusOr<std::unique_ptr<JoinSession>> JoinSession::Open(AgentConfig config) {
  TPMJOIN_ASSIGN_OR_RETURN(std::unique_ptr<TpmConnection> tpm, TpmConnection::Open(config.tcti));
  return std::unique_ptr<JoinSession>(new JoinSession(std::move(config), std::move(tpm)));
}

absl::Status JoinSession::CheckConnection() const {
  if (connection_lost_) {
    return TpmUnavailableError(
        "the connection to the TPM was lost (or became unusable) earlier in this session: "
        "close it and open a new one");
  }
  return absl::OkStatus();
}

template <typename T>
T JoinSession::Track(T result) {
  if (!result.ok() && AbiCodeOf(result.status()) == AbiCode::kTpmUnavailable) {
    connection_lost_ = true;
  }
  return result;
}

absl::StatusOr<Bytes> JoinSession::Begin(ByteSpan join_request) {
  if (pending_) {
    return StateError(
        "a join is already pending: answer its challenge with tpmjoin_join_respond first");
  }
  TPMJOIN_RETURN_IF_ERROR(CheckConnection());
  return Track(BeginJoin(join_request));
}

absl::StatusOr<SecureBytes> JoinSession::Respond(ByteSpan challenge) {
  // The join ends here whatever happens: its AK and session are flushed on
  // return.
  std::optional<PendingJoin> pending = std::move(pending_);
  pending_.reset();
  if (!pending) return StateError("no join is pending: call tpmjoin_join_begin first");
  TPMJOIN_RETURN_IF_ERROR(CheckConnection());
  absl::StatusOr<SecureBytes> answer = Track(AnswerChallenge(*pending, challenge));
  EndJoin(*pending);  // the answer stands even if the TPM goes away now
  return answer;
}

void JoinSession::Cancel() {
  std::optional<PendingJoin> pending = std::move(pending_);
  pending_.reset();
  if (pending) EndJoin(*pending);
}

void JoinSession::EndJoin(PendingJoin& pending) {
  // Flushed here rather than by the owner's destructor, to notice a
  // connection that goes away under the flush.
  const TSS2_RC flushed = pending.ak.handle.Flush();
  if (IsConnectionLost(flushed) || IsContextUnusable(flushed)) connection_lost_ = true;
}

absl::Status JoinSession::EnsureEkCertificate() {
  if (ek_cert_known_) return absl::OkStatus();
  TPMJOIN_RETURN_IF_ERROR(
      Annotate(ReadEkCertificate(*tpm_, config_, &*ek_), "reading the EK certificate"));
  ek_cert_known_ = true;
  return absl::OkStatus();
}

// Without ak_cache_dir: a fresh primary AK (one command), certified.
absl::StatusOr<JoinSession::PendingJoin> JoinSession::PrimaryAkJoin() {
  TPMJOIN_RETURN_IF_ERROR(EnsureEkCertificate());
  TPMJOIN_ASSIGN_OR_RETURN(
      Ak ak, Annotate(CreatePrimaryAk(tpm_->esys(), config_.ak_algorithm, config_.owner_auth),
                      "creating the AK"));
  return PendingJoin{std::move(ak), std::nullopt};
}

// With ak_cache_dir: load the stored child AK of the EK (no key generation),
// or make, certify and store one.
absl::StatusOr<JoinSession::PendingJoin> JoinSession::CachedAkJoin() {
  ESYS_CONTEXT* esys = tpm_->esys();
  const std::string& ek_hash = ek_->identity.pub_hash;
  const absl::string_view auth = config_.endorsement_auth;
  TPMJOIN_ASSIGN_OR_RETURN(EkSession session,
                           EkSession::Start(esys, *ek_, config_.parameter_encryption));

  if (std::optional<CachedAk> cached = cache_->Lookup(ek_hash, config_.ak_algorithm)) {
    bool blob_refused = false;
    absl::StatusOr<TpmHandle> handle = LoadChildAk(esys, *ek_, session, auth, cached->public_area,
                                                   cached->private_area, &blob_refused);
    if (handle.ok()) {
      if (!ek_cert_known_ && !config_.ek_cert_file) {
        ek_->cert_der = cached->ek_cert_der;  // checked against this EK when it was stored
        ek_cert_known_ = true;
      }
      TPMJOIN_RETURN_IF_ERROR(EnsureEkCertificate());
      return PendingJoin{Ak{*std::move(handle), std::move(cached->attestation)},
                         std::move(session)};
    }
    // A wrong endorsement_auth, a lockout, a full TPM: the join fails and
    // the cached AK stays for the next one. Only an AK the TPM itself
    // refuses to load is replaced.
    if (!blob_refused) return handle.status();
    Warn(absl::StrCat("the TPM refused the cached AK \"",
                      cache_->PathFor(ek_hash, config_.ak_algorithm),
                      "\" (", handle.status().message(), "); making a new AK"));
    cache_->Forget(ek_hash, config_.ak_algorithm);
    // A failed use may leave the policy session in any state: start over.
    TPMJOIN_ASSIGN_OR_RETURN(session, EkSession::Start(esys, *ek_, config_.parameter_encryption));
  }

  TPMJOIN_RETURN_IF_ERROR(EnsureEkCertificate());
  TPMJOIN_ASSIGN_OR_RETURN(
      StorableAk made,
      Annotate(CreateChildAk(esys, *ek_, session, auth, config_.ak_algorithm), "creating the AK"));
  // Which EK to remember: not one that ek_cert_file chose (it chooses again
  // each time, and a config without it must follow the NV order).
  CachedAk entry{made.public_area, made.private_area, made.ak.attestation, ek_->cert_der,
                 config_.ek_cert_file ? std::string() : ek_->profile->name};
  if (const absl::Status stored = cache_->Store(ek_hash, config_.ak_algorithm, entry);
      !stored.ok()) {
    Warn(absl::StrCat("cannot cache the AK: ", stored.message()));
  }
  return PendingJoin{std::move(made.ak), std::move(session)};
}

absl::StatusOr<Bytes> JoinSession::BeginJoin(ByteSpan join_request) {
  if (!ek_) {
    // With an AK cache, the EK an earlier join chose spares probing for it.
    std::vector<RememberedEk> remembered;
    if (cache_ && config_.ek_algorithm == KeyAlgorithm::kEcc && !config_.ek_cert_file) {
      remembered = cache_->RememberedEks(config_.ak_algorithm);
    }
    TPMJOIN_ASSIGN_OR_RETURN(Ek ek,
                             Annotate(LoadEk(*tpm_, config_, remembered), "reading the EK"));
    ek_ = std::move(ek);
  }
  TPMJOIN_ASSIGN_OR_RETURN(PendingJoin join, cache_ ? CachedAkJoin() : PrimaryAkJoin());

  wire::RegisterUsingTPMMethodRequest request;
  wire::RegisterUsingTPMMethodInitialRequest* init = request.mutable_init();
  init->set_join_request(join_request.data(), join_request.size());
  if (ek_->cert_der) {
    init->set_ek_cert(ek_->cert_der->data(), ek_->cert_der->size());
  } else {
    init->set_ek_key(ek_->identity.pkix_der.data(), ek_->identity.pkix_der.size());
  }
  wire::TPMAttestationParameters* params = init->mutable_attestation_params();
  const AkAttestation& att = join.ak.attestation;
  params->set_public_(att.public_area.data(), att.public_area.size());
  params->set_create_data(att.creation_data.data(), att.creation_data.size());
  params->set_create_attestation(att.attestation.data(), att.attestation.size());
  params->set_create_signature(att.signature.data(), att.signature.size());

  Bytes out(request.ByteSizeLong());
  if (!request.SerializeToArray(out.data(), static_cast<int>(out.size()))) {
    return InternalError("cannot serialize RegisterUsingTPMMethodRequest");
  }
  pending_ = std::move(join);
  return out;
}

absl::StatusOr<SecureBytes> JoinSession::AnswerChallenge(PendingJoin& pending,
                                                         ByteSpan challenge) {
  TPMJOIN_ASSIGN_OR_RETURN(const Credential credential, ParseChallenge(challenge));
  if (!pending.ek_session) {
    TPMJOIN_ASSIGN_OR_RETURN(pending.ek_session, EkSession::Start(tpm_->esys(), *ek_,
                                                                  config_.parameter_encryption));
  }
  TPMJOIN_ASSIGN_OR_RETURN(
      SecureBytes solution,
      ActivateCredential(tpm_->esys(), *ek_, pending.ak.handle.get(), *pending.ek_session,
                         config_.endorsement_auth, credential.credential_blob,
                         credential.secret));
  wire::RegisterUsingTPMMethodRequest answer;
  answer.mutable_challenge_response()->set_solution(solution.data(), solution.size());
  return SerializeSecret(answer);
}

}  // namespace tpmjoin::agent
