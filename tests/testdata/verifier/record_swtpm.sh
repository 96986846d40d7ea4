#!/bin/bash
# Records one real TPM join's attestation from swtpm, for the verifier's
# unit tests (verifier_swtpm_test.cc). Run ONCE; the outputs are committed
# and the C++ tests only read them:
#
#     tests/testdata/verifier/record_swtpm.sh
#
# Needs swtpm, swtpm-tools, tpm2-tools. Uses a private swtpm-localca CA in a
# temporary directory (REFERENCE.md section 6) and a swtpm on 127.0.0.1 at
# $PORT (default 30417) and $PORT+1, stopped on exit. Writes to
# tests/testdata/verifier/swtpm/:
#   ek-rsa.nvraw        EK certificate NV index 0x01C00002, as tpm2_nvread reads it
#   ek-ecc.nvraw        EK certificate NV index 0x01C00016 (ECC P-384), same
#   ca-root.pem         swtpm-localca root CA      (issues ca-issuer.pem)
#   ca-issuer.pem       swtpm-localca issuing CA   (issues the EK certificates)
#   ak-rsa.{public,create_data,create_attestation,create_signature}
#   ak-ecc.{public,create_data,create_attestation,create_signature}
#       a primary AK made by tpm2_createprimary -C o (RSA-2048 RSASSA-SHA256,
#       ECC P-256 ECDSA-SHA256; fixedtpm|fixedparent|sensitivedataorigin|
#       userwithauth|restricted|sign) and its tpm2_certifycreation by itself:
#       TPMT_PUBLIC, TPMS_CREATION_DATA, TPMS_ATTEST, TPMT_SIGNATURE, bare
#       (the form attestation_params carries).
set -euo pipefail

OUT="$(cd "$(dirname "$0")" && pwd)/swtpm"
PORT="${PORT:-30417}"
TMP="$(mktemp -d)"
SWTPM_PID=""
cleanup() {
  if [[ -n "$SWTPM_PID" ]]; then kill "$SWTPM_PID" 2>/dev/null || true; wait "$SWTPM_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

mkdir -p "$TMP/ca" "$TMP/state" "$OUT"
cat > "$TMP/localca.conf" <<CONF
statedir = $TMP/ca
signingkey = $TMP/ca/signkey.pem
issuercert = $TMP/ca/issuercert.pem
certserial = $TMP/ca/certserial
CONF
cat > "$TMP/localca.options" <<CONF
--platform-manufacturer tpmjoin
--platform-version 1.0
--platform-model unit-test
CONF
cat > "$TMP/swtpm_setup.conf" <<CONF
create_certs_tool = /usr/bin/swtpm_localca
create_certs_tool_config = $TMP/localca.conf
create_certs_tool_options = $TMP/localca.options
active_pcr_banks = sha256
CONF

swtpm_setup --tpm2 --tpmstate "$TMP/state" --config "$TMP/swtpm_setup.conf" \
  --create-ek-cert --lock-nvram --overwrite > "$TMP/setup.log"

swtpm socket --tpm2 --tpmstate dir="$TMP/state" \
  --server type=tcp,port="$PORT",bindaddr=127.0.0.1 \
  --ctrl type=tcp,port="$((PORT + 1))",bindaddr=127.0.0.1 \
  --flags not-need-init,startup-clear &
SWTPM_PID=$!
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$PORT"
for _ in $(seq 50); do
  tpm2_getcap properties-fixed > /dev/null 2>&1 && break
  sleep 0.1
done

tpm2_nvread -Q 0x01c00002 -o "$OUT/ek-rsa.nvraw"
tpm2_nvread -Q 0x01c00016 -o "$OUT/ek-ecc.nvraw"
cp "$TMP/ca/swtpm-localca-rootca-cert.pem" "$OUT/ca-root.pem"
cp "$TMP/ca/issuercert.pem" "$OUT/ca-issuer.pem"

# No resource manager: every command leaves what it loaded in the TPM's
# few transient slots, so flush them after each one.
record_ak() {  # name key-algorithm
  local name="$1" alg="$2" w="$TMP/$1"
  tpm2_createprimary -Q -C o -g sha256 -G "$alg" \
    -a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign' \
    -c "$w.ctx" --creation-data "$w.creation" -d "$w.creation_hash" -t "$w.ticket"
  tpm2_flushcontext -t
  tpm2_readpublic -Q -c "$w.ctx" -o "$w.tpm2b_public"
  tpm2_flushcontext -t
  tpm2_certifycreation -Q -C "$w.ctx" -c "$w.ctx" -d "$w.creation_hash" -t "$w.ticket" \
    -g sha256 -f tss -o "$OUT/$name.create_signature" --attestation "$OUT/$name.create_attestation"
  tpm2_flushcontext -t
  tail -c +3 "$w.tpm2b_public" > "$OUT/$name.public"   # TPM2B_PUBLIC -> TPMT_PUBLIC
  tail -c +3 "$w.creation" > "$OUT/$name.create_data"      # TPM2B_CREATION_DATA -> TPMS_...
}
record_ak ak-rsa rsa2048:rsassa-sha256:null
record_ak ak-ecc ecc256:ecdsa-sha256:null

ls -l "$OUT"
