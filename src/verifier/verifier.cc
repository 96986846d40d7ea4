#include "src/verifier/verifier.h"

#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "abi/tpmjoin.pb.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/common/digest.h"
#include "src/common/errors.h"
#include "src/verifier/ak_validation.h"
#include "src/verifier/ek_validation.h"
#include "src/verifier/make_credential.h"

namespace tpmjoin::verifier {
namespace {

constexpr size_t kSecretSize = 32;

absl::string_view PayloadName(v1::RegisterUsingTPMMethodRequest::PayloadCase payload) {
  switch (payload) {
    case v1::RegisterUsingTPMMethodRequest::kInit:
      return "init";
    case v1::RegisterUsingTPMMethodRequest::kChallengeResponse:
      return "challenge_response";
    default:
      return "an empty request";
  }
}

absl::StatusOr<v1::RegisterUsingTPMMethodRequest> ParseRequest(
    ByteSpan bytes, v1::RegisterUsingTPMMethodRequest::PayloadCase want) {
  v1::RegisterUsingTPMMethodRequest request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return BadMessageError("not a serialized RegisterUsingTPMMethodRequest");
  }
  if (request.payload_case() != want) {
    return BadMessageError(absl::StrCat("expected ", PayloadName(want), ", got ",
                                        PayloadName(request.payload_case())));
  }
  return request;
}

absl::StatusOr<SecureBytes> FreshSecret() {
  SecureBytes secret(kSecretSize);
  if (RAND_priv_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
    return OpensslError("RAND_priv_bytes");
  }
  return secret;
}

absl::StatusOr<Bytes> ChallengeResponse(const EncryptedCredential& credential) {
  v1::RegisterUsingTPMMethodResponse response;
  v1::TPMEncryptedCredential* out = response.mutable_challenge_request();
  out->set_credential_blob(std::string(AsStringView(credential.credential_blob)));
  out->set_secret(std::string(AsStringView(credential.secret)));
  Bytes bytes(response.ByteSizeLong());
  if (!response.SerializeToArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InternalError("cannot serialize RegisterUsingTPMMethodResponse");
  }
  return bytes;
}

}  // namespace

std::string JoinResult::ToJson() const {
  nlohmann::json json = {
      {"ek_pub_hash", ek_pub_hash},
      {"ek_cert_serial", ek_cert_serial},
      {"ek_cert_verified", ek_cert_verified},
      {"matched_rule", matched_rule},
      {"tpm_manufacturer", tpm_manufacturer},
      {"tpm_model", tpm_model},
      {"tpm_version", tpm_version},
      {"ak_algorithm", ak_algorithm},
      {"join_request", absl::Base64Escape(AsStringView(join_request))},
  };
  // Certificate strings are attacker-chosen: never fail on invalid UTF-8.
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<std::string> Challenge::Finish(ByteSpan request) {
  if (finished_) return StateError("this challenge has already been finished");
  finished_ = true;
  const SecureBytes secret = std::move(secret_);
  secret_.clear();
  TPMJOIN_ASSIGN_OR_RETURN(
      v1::RegisterUsingTPMMethodRequest parsed,
      ParseRequest(request, v1::RegisterUsingTPMMethodRequest::kChallengeResponse));
  std::string* solution = parsed.mutable_challenge_response()->mutable_solution();
  const bool correct = ConstantTimeEquals(AsSpan(*solution), secret);
  OPENSSL_cleanse(solution->data(), solution->size());
  if (!correct) return DeniedError("wrong solution to the credential challenge");
  return result_.ToJson();
}

absl::StatusOr<std::unique_ptr<Verifier>> Verifier::New(absl::string_view policy_json,
                                                        VerifierOptions options) {
  TPMJOIN_ASSIGN_OR_RETURN(Policy policy, ParsePolicy(policy_json));
  std::optional<CertChainVerifier> chain;
  if (!policy.ekcert_allowed_cas.empty()) {
    TPMJOIN_ASSIGN_OR_RETURN(chain,
                             CertChainVerifier::New(std::move(policy.ekcert_allowed_cas),
                                                    std::move(policy.ekcert_intermediate_cas)));
  }
  return std::unique_ptr<Verifier>(new Verifier(std::move(policy), std::move(chain), options));
}

time_t Verifier::Now() const {
  if (options_.verification_time) return *options_.verification_time;
  return options_.clock ? options_.clock() : time(nullptr);
}

absl::StatusOr<IssuedChallenge> Verifier::NewChallenge(ByteSpan request) const {
  TPMJOIN_ASSIGN_OR_RETURN(
      const v1::RegisterUsingTPMMethodRequest parsed,
      ParseRequest(request, v1::RegisterUsingTPMMethodRequest::kInit));
  const v1::RegisterUsingTPMMethodInitialRequest& init = parsed.init();
  const time_t now = Now();

  // Every structure first (BAD_MESSAGE), so that garbage is told apart from
  // a request that fails a check, whichever check that would be. A cached
  // EK was parsed from exactly these bytes before.
  std::string cache_key;
  if (init.ek_case() == v1::RegisterUsingTPMMethodInitialRequest::kEkCert) {
    cache_key = VerifiedEkCache::KeyOf("ek_cert", AsSpan(init.ek_cert()));
  } else if (init.ek_case() == v1::RegisterUsingTPMMethodInitialRequest::kEkKey) {
    cache_key = VerifiedEkCache::KeyOf("ek_key", AsSpan(init.ek_key()));
  }
  std::shared_ptr<const Ek> verified = ek_cache_.Lookup(cache_key, now);
  const bool from_cache = verified != nullptr;
  std::optional<Ek> fresh;
  if (!from_cache) {
    TPMJOIN_ASSIGN_OR_RETURN(fresh, ParseEk(init));
  }
  TPMJOIN_ASSIGN_OR_RETURN(const AkAttestation ak, ParseAkAttestation(init.attestation_params()));

  // Then the verdicts (DENIED): EK key type and certificate chain (skipped
  // for a cached EK), allow rules, AK.
  ValidityWindow window;
  if (!from_cache) {
    TPMJOIN_ASSIGN_OR_RETURN(window, VerifyEk(&*fresh, chain_ ? &*chain_ : nullptr, now));
    verified = std::make_shared<const Ek>(std::move(*fresh));
  }
  const Ek& ek = *verified;
  EkIdentifiers ids{ek.pub.pub_hash};
  if (ek.serial) ids.certificate_serial = ByteSpan(*ek.serial);
  const std::optional<size_t> rule = FirstMatchingRule(policy_.allow, ids);
  if (!rule) {
    return DeniedError(absl::StrCat(
        "no allow rule matches the EK (ek_public_hash ", ek.pub.pub_hash,
        ek.cert ? absl::StrCat(", ek_certificate_serial ", ek.serial_text)
                : std::string(", no EK certificate"),
        ")"));
  }
  TPMJOIN_ASSIGN_OR_RETURN(const AkIdentity ak_identity, CheckAkAttestation(ak));
  // Only a request that passed every check stores its EK: denied requests
  // (anyone can send them) never fill the cache or evict allowed EKs.
  if (!from_cache) ek_cache_.Insert(cache_key, verified, window, now);

  TPMJOIN_ASSIGN_OR_RETURN(SecureBytes secret, FreshSecret());
  TPMJOIN_ASSIGN_OR_RETURN(
      const EncryptedCredential credential,
      MakeCredential(ek.pub.key.get(), ek.profile, ak_identity.name, secret));
  IssuedChallenge issued;
  TPMJOIN_ASSIGN_OR_RETURN(issued.response, ChallengeResponse(credential));

  JoinResult result;
  result.ek_pub_hash = ek.pub.pub_hash;
  result.ek_cert_serial = ek.serial_text;
  result.ek_cert_verified = chain_.has_value();
  result.matched_rule = RuleLabel(policy_.allow, *rule);
  result.tpm_manufacturer = ek.device.manufacturer;
  result.tpm_model = ek.device.model;
  result.tpm_version = ek.device.version;
  result.ak_algorithm = ak_identity.algorithm;
  result.join_request = ToBytes(init.join_request());
  issued.challenge = std::make_unique<Challenge>(std::move(secret), std::move(result));
  return issued;
}

}  // namespace tpmjoin::verifier
