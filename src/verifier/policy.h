// The join policy: the `tpm` part of a Teleport join token spec, as JSON
// (see tpmjoin_verifier_open in abi/tpmjoin_verifier.h).
#ifndef TPMJOIN_SRC_VERIFIER_POLICY_H_
#define TPMJOIN_SRC_VERIFIER_POLICY_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/common/bytes.h"
#include "src/common/ossl.h"

namespace tpmjoin::verifier {

// One entry of "allow". A rule matches an EK when every field it sets
// matches; at least one field is set. A serial is not tied to an issuer: it
// matches a certificate that chained to any of the listed CAs.
struct AllowRule {
  std::string description;
  // Lowercase hex SHA-256 of the EK's PKIX DER (64 characters).
  std::optional<std::string> ek_public_hash;
  // EK certificate serial as magnitude bytes without leading zero bytes.
  std::optional<Bytes> ek_certificate_serial;
};

struct Policy {
  std::vector<AllowRule> allow;                // never empty
  std::vector<X509Ptr> ekcert_allowed_cas;     // trust anchors; empty: no chain check
  std::vector<X509Ptr> ekcert_intermediate_cas;  // untrusted, for path building
};

// Parses policy JSON. INVALID_ARGUMENT naming the key for bad JSON, a
// duplicate key, unknown keys, wrong types, no rule, a rule with no field,
// bad hex, a CA entry that is not exactly one PEM certificate, and a rule
// that sets only ek_certificate_serial in a policy without
// ekcert_allowed_cas (anyone can make a certificate with a chosen serial). An empty string counts as an
// unset rule field and an empty CA list as no list (Go's zero values, as in
// Teleport).
absl::StatusOr<Policy> ParsePolicy(absl::string_view json);

// What an EK is matched on. `certificate_serial` is nullopt when the
// request carried no certificate.
struct EkIdentifiers {
  absl::string_view public_hash;  // lowercase hex
  std::optional<ByteSpan> certificate_serial;
};

bool RuleMatches(const AllowRule& rule, const EkIdentifiers& ek);

// Index of the first rule in `rules` that matches, or nullopt.
std::optional<size_t> FirstMatchingRule(const std::vector<AllowRule>& rules,
                                        const EkIdentifiers& ek);

// The rule's description, or its index as a string when it has none.
std::string RuleLabel(const std::vector<AllowRule>& rules, size_t index);

// `serial` without leading zero bytes (the form rules are compared in).
ByteSpan TrimLeadingZeros(ByteSpan serial);

}  // namespace tpmjoin::verifier

#endif  // TPMJOIN_SRC_VERIFIER_POLICY_H_
