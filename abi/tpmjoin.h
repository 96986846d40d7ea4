/*
 * libtpmjoin: TPM 2.0 machine joining (Teleport RFD 0166), agent side.
 *
 * This header is the stable C ABI of libtpmjoin.so.1. An agent loads the
 * library, opens a session on its TPM, and carries the protobuf messages the
 * library returns over its own RPC stream (Teleport's RegisterUsingTPMMethod
 * stream; see tpmjoin.proto for the wire format):
 *
 *     tpmjoin_session *s = NULL;
 *     tpmjoin_session_open("{\"tcti\":\"device:/dev/tpmrm0\"}", &s);
 *     tpmjoin_bytes init = {0}, answer = {0};
 *     tpmjoin_join_begin(s, join_request, join_request_len, &init);
 *     ... send init.data/init.len, receive the server's challenge ...
 *     tpmjoin_join_respond(s, challenge, challenge_len, &answer);
 *     ... send answer.data/answer.len, receive certificates ...
 *     tpmjoin_bytes_free(&init);
 *     tpmjoin_bytes_free(&answer);
 *     tpmjoin_session_close(s);
 *
 * Conventions for every function in this header and in tpmjoin_verifier.h:
 *   - Inputs are (pointer, length) pairs and are copied; the caller keeps
 *     ownership and may free them as soon as the call returns.
 *   - Outputs are written to a caller-provided tpmjoin_bytes, allocated by
 *     the library and released only with tpmjoin_bytes_free(). On failure
 *     the output struct is left zeroed.
 *   - A function returns TPMJOIN_OK or an error status; on error,
 *     tpmjoin_last_error() on the same thread says what failed and why.
 *   - No input aborts the process and no C++ exception crosses the ABI.
 *   - Status values never change; new values are only appended.
 */
#ifndef TPMJOIN_H_
#define TPMJOIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TPMJOIN_BUILDING_LIBRARY)
#define TPMJOIN_EXPORT __attribute__((visibility("default")))
#else
#define TPMJOIN_EXPORT
#endif

/* Version of this ABI. Bumped (together with the SONAME) only on a break. */
#define TPMJOIN_ABI_VERSION 1

/* Returns TPMJOIN_ABI_VERSION as the loaded library was built with it.
 * An agent that dlopen()s the library should compare it with the value it
 * was compiled against. Thread-safe; never fails. */
TPMJOIN_EXPORT uint32_t tpmjoin_abi_version(void);

typedef enum {
  /* Success. */
  TPMJOIN_OK = 0,
  /* A required pointer is NULL, or a configuration/policy value is invalid
   * (the message names the key). */
  TPMJOIN_ERR_INVALID_ARGUMENT = 1,
  /* A message (protobuf or TPM structure inside it) is malformed or is not
   * the kind of message this step expects. */
  TPMJOIN_ERR_BAD_MESSAGE = 2,
  /* The TPM rejected a command (the message names the command and decodes
   * the response code). */
  TPMJOIN_ERR_TPM = 3,
  /* The TPM cannot be reached: the TCTI cannot connect, the connection
   * was lost, or it can no longer be used (a TPM response failed its
   * integrity check, so something on the way altered it). The session
   * stays in this state: close it and open a new one. */
  TPMJOIN_ERR_TPM_UNAVAILABLE = 4,
  /* The call is out of order (e.g. join_begin while a join is pending,
   * join_respond with none pending, finishing a challenge twice). */
  TPMJOIN_ERR_STATE = 5,
  /* The verifier judged the request and refused it (the message says which
   * check failed). */
  TPMJOIN_ERR_DENIED = 6,
  /* A fault inside the library (out of memory, crypto library failure). */
  TPMJOIN_ERR_INTERNAL = 7
} tpmjoin_status;

/* A byte string owned by the library. */
typedef struct tpmjoin_bytes {
  uint8_t *data;
  size_t len;
} tpmjoin_bytes;

/* Wipes b->data, frees it and zeroes *b. NULL and an already-zeroed struct
 * are accepted. Never pass a struct the library did not fill. */
TPMJOIN_EXPORT void tpmjoin_bytes_free(tpmjoin_bytes *b);

/* Human-readable message of the last failed tpmjoin_* call on the calling
 * thread: which step, which TPM command and why (TPM response codes decoded
 * with Tss2_RC_Decode). Never contains a secret. Returns "" when no call has
 * failed on this thread. The pointer stays valid until the next tpmjoin_*
 * call on the same thread fails; successful calls leave it unchanged. */
TPMJOIN_EXPORT const char *tpmjoin_last_error(void);

/* A connection to one TPM that runs one join at a time. Not thread-safe:
 * use a session from one thread at a time. Distinct sessions may be used
 * from distinct threads concurrently. */
typedef struct tpmjoin_session tpmjoin_session;

/* Opens a session: parses config_json and connects to the TPM.
 *
 * config_json: NULL or "{}" for defaults, else a JSON object (at most 1 MiB)
 * with keys
 *   "tcti"             TCTI string as tpm2-tools takes it ("swtpm:port=2321",
 *                      "device:/dev/tpmrm0", ...). Default: $TPM2TOOLS_TCTI,
 *                      then $TCTI, then "device:/dev/tpmrm0".
 *   "ek_algorithm"     "rsa" (default): the RSA-2048 EK of template L-1
 *                      (certificate at NV 0x01C00002). "ecc": the first ECC
 *                      EK with a certificate in NV, in the order L-2 (P-256,
 *                      0x01C0000A), H-2 (P-256, 0x01C00014), H-3 (P-384,
 *                      0x01C00016), H-4 (P-521, 0x01C00018); with
 *                      "ek_cert_file", the one of the file's curve (P-256:
 *                      L-2, P-384: H-3, P-521: H-4); without any ECC
 *                      certificate, the L-2 EK. With "ak_cache_dir", a
 *                      renewal keeps to the ECC EK its cached AK was made
 *                      under while that EK is still persistent in the TPM,
 *                      without looking at NV again. The EK is the
 *                      persistent one at its profile's usual handle
 *                      (0x81010001, 0x81010002, 0x81010014, 0x81010016,
 *                      0x81010018), else made with TPM2_CreatePrimary from
 *                      the TCG EK Credential Profile's template (for L-1
 *                      and L-2: the EK template and/or EK nonce provisioned
 *                      in NV, when present).
 *                      Other RSA EKs (H-1, H-6, H-7) are not used.
 *   "ak_algorithm"     "rsa" (default, RSA-2048 RSASSA-SHA256, the only AK
 *                      Teleport's Auth Server accepts) or "ecc" (P-256
 *                      ECDSA-SHA256).
 *   "endorsement_auth" endorsement hierarchy password (default empty; at
 *                      most 64 bytes).
 *   "owner_auth"       owner hierarchy password (default empty; at most 64
 *                      bytes), for the owner hierarchy and NV reads.
 *   "ek_cert_file"     path of a DER or PEM EK certificate to send instead of
 *                      the one in TPM NV. It is read, and checked against
 *                      the EK, by a session's first tpmjoin_join_begin
 *                      (later joins of the session reuse it) and by
 *                      tpmjoin_identify.
 *   "ak_cache_dir"     directory (created 0700 when missing; its parent must
 *                      exist) where the AK is kept between
 *                      joins, so that renewals load it instead of generating
 *                      a key. The AK is then a child of the EK: it loads only
 *                      into this TPM while its endorsement seed is unchanged.
 *                      Corrupt, foreign or refused cache files are replaced
 *                      (with a warning on stderr); caching never fails a join.
 *                      Before a stored AK is used, what a verifier will check
 *                      of it (creation data, attestation, signature, the EK
 *                      certificate's key) and the file's checksum are
 *                      checked; a TPM error other than TPM2_Load refusing
 *                      the stored AK (a wrong endorsement_auth, a lockout)
 *                      fails that join as it would without a cache, and the
 *                      file stays. Renewals send the EK certificate stored
 *                      with the AK, not re-read from NV: remove the file
 *                      when the TPM's certificate is re-provisioned.
 *                      An existing directory this process owns is set to
 *                      0700 when group or others have access (with a
 *                      warning); one owned by another user, or a shared
 *                      sticky directory such as /tmp, is not used at all
 *                      (with a warning): joins then make a fresh AK.
 *   "parameter_encryption"  true (default): the session that authorizes the
 *                      EK is salted to the EK and encrypts
 *                      TPM2_ActivateCredential's response, so the recovered
 *                      secret never crosses the TPM bus in clear.
 * Unknown keys, keys given twice, wrong types and bad values are rejected.
 *
 * On success *out owns the session; close it with tpmjoin_session_close.
 * Returns OK, INVALID_ARGUMENT (out NULL, bad config, config_json longer
 * than 1 MiB), TPM_UNAVAILABLE (the TCTI cannot connect), INTERNAL. */
TPMJOIN_EXPORT tpmjoin_status tpmjoin_session_open(const char *config_json,
                                                   tpmjoin_session **out);

/* Starts a join: reads the EK and its certificate, makes an Attestation Key
 * in the TPM and certifies its creation. join_request is the serialized
 * RegisterUsingTokenRequest the agent wants signed (passed through
 * unchanged; may be empty).
 *
 * On success *out holds a serialized RegisterUsingTPMMethodRequest with
 * `init` set, to send to the server. The AK stays loaded until
 * tpmjoin_join_respond or tpmjoin_session_close.
 * Returns OK, INVALID_ARGUMENT (s or out NULL, join_request NULL with a
 * non-zero length; "ek_cert_file" unreadable, not a certificate, of an
 * unsupported key, or not for this TPM's EK), BAD_MESSAGE (join_request
 * longer than 1 MiB), STATE (a join is already pending), TPM (a command
 * failed, or the TPM's EK certificate, template or nonce in NV is not
 * usable), TPM_UNAVAILABLE, INTERNAL. */
TPMJOIN_EXPORT tpmjoin_status tpmjoin_join_begin(tpmjoin_session *s,
                                                 const uint8_t *join_request,
                                                 size_t join_request_len,
                                                 tpmjoin_bytes *out);

/* Answers the server's challenge: challenge is a serialized
 * RegisterUsingTPMMethodResponse with `challenge_request` set. Runs
 * TPM2_ActivateCredential with the AK and the EK.
 *
 * On success *out holds a serialized RegisterUsingTPMMethodRequest with
 * `challenge_response.solution` set, to send to the server.
 * Whatever the outcome (unless s is NULL), the pending join ends (its AK
 * is flushed) and tpmjoin_join_begin may be called again, e.g. for a
 * renewal; also when out is NULL.
 * Returns OK, INVALID_ARGUMENT (s or out NULL, challenge NULL with a
 * non-zero length), STATE (no join pending), BAD_MESSAGE (not a challenge,
 * malformed, or longer than 1 MiB), TPM (e.g. the credential is not for
 * this EK/AK pair), TPM_UNAVAILABLE, INTERNAL. */
TPMJOIN_EXPORT tpmjoin_status tpmjoin_join_respond(tpmjoin_session *s,
                                                   const uint8_t *challenge,
                                                   size_t challenge_len,
                                                   tpmjoin_bytes *out);

/* Flushes every transient object and session the library loaded, closes
 * the TPM connection and frees the session. NULL is accepted. */
TPMJOIN_EXPORT void tpmjoin_session_close(tpmjoin_session *s);

/* Describes the TPM's EK, as `tbot tpm identify` does. config_json as for
 * tpmjoin_session_open. *out_json receives a JSON object:
 *   ek_pub_hash        lowercase hex SHA-256 of the EK's PKIX DER
 *   ek_algorithm       "rsa" or "ecc"
 *   ek_key_type        e.g. "rsa2048", "ecc-p384"
 *   ek_template        the EK's TCG profile: "L-1", "L-2", "H-2", "H-3", "H-4"
 *   ek_persistent      true when the EK is a persistent key, false when it
 *                      was made by TPM2_CreatePrimary (and flushed again)
 *   ek_pub_pem         the EK public key, PEM
 *   ek_cert_present    true/false
 *   ek_cert_serial     "04:c0:1d:..." ("" without a certificate)
 *   ek_cert_pem        the EK certificate, PEM (only when present)
 *   tpm_manufacturer   e.g. "IBM" (TPM_PT_MANUFACTURER as text)
 *   tpm_manufacturer_id  e.g. "0x49424d00"
 *   tpm_vendor_string  TPM_PT_VENDOR_STRING_1..4
 *   tpm_firmware_version  e.g. "8215.4131.22.13878" (FIRMWARE_VERSION_1/2)
 * Returns OK, INVALID_ARGUMENT (out_json NULL, bad config as for
 * tpmjoin_session_open, "ek_cert_file" problems as for tpmjoin_join_begin),
 * TPM, TPM_UNAVAILABLE, INTERNAL. */
TPMJOIN_EXPORT tpmjoin_status tpmjoin_identify(const char *config_json,
                                               tpmjoin_bytes *out_json);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TPMJOIN_H_ */
