/*
 * libtpmjoin: server side of a TPM join. Judges the agent's init request,
 * issues a credential-activation challenge bound to its EK and AK, and checks
 * the answer. Needs no TPM. Conventions (ownership, statuses, last_error) as
 * described at the top of tpmjoin.h.
 *
 *     tpmjoin_verifier *v = NULL;
 *     tpmjoin_verifier_open(policy_json, &v);            // once, at start-up
 *     ...
 *     tpmjoin_challenge *c = NULL;
 *     tpmjoin_bytes challenge = {0}, result = {0};
 *     if (tpmjoin_verifier_challenge(v, init, init_len, &c, &challenge) == TPMJOIN_OK) {
 *       ... send challenge, receive the agent's answer ...
 *       if (tpmjoin_verifier_finish(c, answer, answer_len, &result) == TPMJOIN_OK) {
 *         ... the host holds the TPM; issue certificates for result.join_request ...
 *       }
 *     }
 *     tpmjoin_challenge_free(c);
 */
#ifndef TPMJOIN_VERIFIER_H_
#define TPMJOIN_VERIFIER_H_

#include "tpmjoin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An immutable join policy. Safe to use from many threads at once. */
typedef struct tpmjoin_verifier tpmjoin_verifier;

/* The server's state for one issued challenge (holds the secret). Use from
 * one thread at a time. */
typedef struct tpmjoin_challenge tpmjoin_challenge;

/* Parses a policy: the `tpm` part of a Teleport join token spec, as JSON:
 *   {
 *     "allow": [ { "description": "...",
 *                  "ek_public_hash": "<hex SHA-256 of the EK's PKIX DER>",
 *                  "ek_certificate_serial": "aa:bb:..." }, ... ],
 *                  (the serial of a certificate from any listed CA:
 *                   see "Serial rules" below)
 *     "ekcert_allowed_cas": [ "<PEM>", ... ],       (optional)
 *     "ekcert_intermediate_cas": [ "<PEM>", ... ]   (optional, ours)
 *   }
 * At least one rule; each rule sets ek_public_hash and/or
 * ek_certificate_serial. A rule matches when every field it sets matches
 * (hex compared case-insensitively; ek_public_hash is 64 hex digits; serial
 * colons optional and leading zero bytes ignored, so "00:cd:8f" matches
 * serial cd:8f; a serial rule never matches a request without a
 * certificate); the policy allows when any rule matches. As in Teleport
 * (Go zero values), "" counts as an unset field and an empty
 * ekcert_allowed_cas as no list; null is a wrong type. When
 * ekcert_allowed_cas is set, an EK certificate is required and must chain
 * to one of the listed CAs, each of which is a trust anchor;
 * ekcert_intermediate_cas are untrusted certificates used only to build the
 * path (rejected without ekcert_allowed_cas). Each CA entry is exactly one
 * PEM CERTIFICATE block (surrounding whitespace allowed).
 * Serial rules:
 *  - A rule that sets only ek_certificate_serial needs ekcert_allowed_cas:
 *    without a CA anyone can make a certificate with a chosen serial for a
 *    key of their own, so such a policy is rejected (INVALID_ARGUMENT; add
 *    ekcert_allowed_cas, or ek_public_hash to the rule). A rule with both
 *    fields needs no CA. (Stricter than Teleport, which accepts it.)
 *  - A serial is not tied to an issuer: it matches a certificate that
 *    chained to any of the listed CAs, whichever CA issued it. Serials are
 *    unique per issuer only, so when the list holds several makers' CAs,
 *    a serial rule may match a TPM of another maker that happens to carry
 *    the same serial; add ek_public_hash to pin one TPM.
 * Each JSON object may hold each key once (a duplicate key is rejected,
 * not resolved to either value).
 * Returns OK, INVALID_ARGUMENT (policy_json or out NULL, bad JSON, duplicate
 * key, unknown key, wrong type, no rule, empty rule, bad hex, a PEM that is
 * not exactly one certificate, a serial-only rule without
 * ekcert_allowed_cas), INTERNAL. */
TPMJOIN_EXPORT tpmjoin_status tpmjoin_verifier_open(const char *policy_json,
                                                    tpmjoin_verifier **out);

/* Judges an init request (serialized RegisterUsingTPMMethodRequest with
 * `init`) and, when it passes, makes a credential for its EK and AK. First
 * every structure is parsed (BAD_MESSAGE when malformed): the EK from
 * ek_cert (preferred; DER, also as read from TPM NV: behind a TCG header,
 * followed by padding of all 0x00 or all 0xFF bytes; no PEM, no other
 * trailing bytes) or ek_key (exactly one SubjectPublicKeyInfo DER), and the four AK
 * structures (strictly: sizes checked, no trailing bytes). Then the checks,
 * in order (DENIED):
 *   1. EK key type: RSA 2048/3072/4096 or ECC P-256/P-384/P-521 (the TCG
 *      EK profile);
 *   2. with ekcert_allowed_cas: EK certificate is an end entity (not
 *      basicConstraints cA TRUE), chains to a listed CA (every listed CA a
 *      trust anchor; intermediates need cA TRUE) and every certificate on
 *      the path is within its validity period;
 *   3. allow rules (no match: DENIED, no challenge made);
 *   4. the AK: TPMS_ATTEST magic and type, creationHash = H(create_data),
 *      certified name = name of `public`, attributes fixedTPM, fixedParent,
 *      sensitiveDataOrigin, restricted, sign (not decrypt), signature over
 *      create_attestation by the AK itself; RSA >= 2048 bits (keyBits and
 *      the modulus itself, top bit set) with RSASSA or
 *      ECC P-256/P-384 with ECDSA; SHA-256 or stronger;
 *   5. MakeCredential with a fresh 32-byte secret, with the nameAlg and
 *      AES key size the TCG EK profile fixes for the EK's key type.
 * Malformed structures are BAD_MESSAGE even when a check (key type, chain,
 * rules) would deny the request.
 * On success *out_state owns the challenge state (free with
 * tpmjoin_challenge_free) and *out_response holds a serialized
 * RegisterUsingTPMMethodResponse with `challenge_request`.
 * Thread-safe with respect to v.
 * Returns OK, INVALID_ARGUMENT (NULL pointers), BAD_MESSAGE (not an init
 * request, structural garbage), DENIED (a well-formed request that fails a
 * check; the message says which), INTERNAL. */
TPMJOIN_EXPORT tpmjoin_status tpmjoin_verifier_challenge(
    tpmjoin_verifier *v, const uint8_t *request, size_t request_len,
    tpmjoin_challenge **out_state, tpmjoin_bytes *out_response);

/* Checks the agent's answer (serialized RegisterUsingTPMMethodRequest with
 * `challenge_response`) in constant time. A challenge can be finished once:
 * after the first call that gets past the argument checks (whatever its
 * outcome, BAD_MESSAGE included) the secret is wiped.
 * On success *out_result_json receives a JSON object:
 *   ek_pub_hash, ek_cert_serial ("" without a certificate),
 *   ek_cert_verified (true when chained to an allowed CA), matched_rule
 *   (the rule's description, or its index as a string when it has none),
 *   tpm_manufacturer, tpm_model, tpm_version (from the EK certificate's
 *   subjectAltName, "" when absent), ak_algorithm, join_request (base64 of
 *   the agent's join_request bytes).
 * Returns OK, INVALID_ARGUMENT (NULL pointers), BAD_MESSAGE (not a
 * challenge response, malformed), DENIED (wrong solution), STATE (already
 * finished), INTERNAL. */
TPMJOIN_EXPORT tpmjoin_status tpmjoin_verifier_finish(
    tpmjoin_challenge *c, const uint8_t *request, size_t request_len,
    tpmjoin_bytes *out_result_json);

/* Wipes the secret and frees the challenge. NULL is accepted. */
TPMJOIN_EXPORT void tpmjoin_challenge_free(tpmjoin_challenge *c);

/* Frees the verifier. NULL is accepted. Every challenge made with it stays
 * valid (challenges do not reference the verifier). */
TPMJOIN_EXPORT void tpmjoin_verifier_close(tpmjoin_verifier *v);

/* Describes an EK certificate or a PKIX (SubjectPublicKeyInfo) EK public
 * key, DER or PEM, so an operator can write an allow rule from a file.
 * *out_json receives: ek_pub_hash, ek_cert_present, ek_cert_serial,
 * key_type (e.g. "rsa2048", "ecc-p384"), tpm_manufacturer, tpm_model,
 * tpm_version (from the subjectAltName), issuer, subject, not_before,
 * not_after (RFC 3339 UTC), ek_pub_pem.
 * Raw TPM NV contents (DER followed by padding, or a TCG header) are
 * accepted, and so is the JSON that Intel's EK certificate service
 * (ekop.intel.com) returns for firmware TPMs: {"pubhash": ...,
 * "certificate": "<URL-safe base64 DER>"} ('=' may appear as %3D). For a
 * bare key the certificate fields are "" (ek_cert_present false).
 * id-RSAES-OAEP keys of TPM 1.2 certificates are described as the RSA keys
 * they are. Returns OK, INVALID_ARGUMENT (NULL pointers, more than
 * 1 MiB, not a certificate or a public key; JSON other than Intel's EK
 * service response, with a message saying so), INTERNAL. */
TPMJOIN_EXPORT tpmjoin_status tpmjoin_ek_info(const uint8_t *der_or_pem,
                                              size_t len,
                                              tpmjoin_bytes *out_json);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TPMJOIN_VERIFIER_H_ */
