#!/usr/bin/python3
"""Regenerates fuzz/seeds from real messages: init requests made by
libtpmjoin on swtpm (RSA/ECC EK, with and without certificate, RSA/ECC AK),
the policy that allows those EKs and trusts their CA, challenges and
answers, configs, and TPM structures. Run once; the seeds are committed.

    PYTHONPATH=build/python:pytests /usr/bin/python3 fuzz/make_seeds.py
"""

import json
import os
import shutil
from pathlib import Path

import _tpmjoin as tj
import tpmjoin_pb2 as pb
from tpmharness import Swtpm, Variant

SEEDS = Path(__file__).resolve().parent / "seeds"


def write(sub: str, name: str, data: bytes):
    d = SEEDS / sub
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    SEEDS.mkdir()
    with_cert = Swtpm(Variant())
    no_cert = Swtpm(Variant(ek_certs=False))
    try:
        hashes, inits = [], {}
        for tpm, cert in ((with_cert, "cert"), (no_cert, "nocert")):
            for ek in ("rsa", "ecc"):
                for ak in ("rsa", "ecc"):
                    cfg = tpm.config(ek_algorithm=ek, ak_algorithm=ak)
                    hashes.append(json.loads(tj.identify(cfg))["ek_pub_hash"])
                    with tj.Session(cfg) as s:
                        init = s.begin(b"\x0a\x04join")
                        inits[f"{ek}-ek-{cert}-{ak}-ak"] = (init, s)
                        v = tj.Verifier(json.dumps({"allow": [{"ek_public_hash": hashes[-1]}]}))
                        challenge, response = v.challenge(init)
                        answer = s.respond(response)
                        json.loads(challenge.finish(answer))
                    write("verifier_challenge", f"{ek}-ek-{cert}-{ak}-ak.bin", init)
                    write("agent_challenge", f"{ek}-ek-{ak}-ak.bin", response)
                    write("verifier_finish", f"{ek}-ek-{ak}-ak.bin", answer)
                    params = pb.RegisterUsingTPMMethodRequest.FromString(init).init \
                        .attestation_params
                    for i, field in enumerate(("public", "create_data",
                                               "create_attestation", "create_signature")):
                        write("tpm_structures", f"{ek}-{ak}-{field}.bin",
                              bytes([i]) + getattr(params, field))
                    cred = pb.RegisterUsingTPMMethodResponse.FromString(response) \
                        .challenge_request
                    write("tpm_structures", f"{ek}-{ak}-blob.bin", b"\x04" + cred.credential_blob)
                    write("tpm_structures", f"{ek}-{ak}-secret.bin", b"\x05" + cred.secret)
        policy = {"allow": [{"description": f"seed {i}", "ek_public_hash": h}
                            for i, h in enumerate(hashes)],
                  "ekcert_allowed_cas": [with_cert.issuer_ca_pem]}
        (SEEDS / "policy.json").write_text(json.dumps(policy))
        write("policy_json", "seed.json", json.dumps(policy).encode())
        write("policy_json", "intermediate.json", json.dumps(
            {"allow": [{"ek_certificate_serial": "04:c0:1d"}],
             "ekcert_allowed_cas": [with_cert.root_ca_pem],
             "ekcert_intermediate_cas": [with_cert.issuer_ca_pem]}).encode())
        # Policies the parser must refuse: a duplicate key, a serial-only
        # rule without CAs.
        write("policy_json", "duplicate-key.json",
              b'{"allow": [{"ek_public_hash": "%s", "ek_public_hash": "%s"}]}'
              % (hashes[0].encode(), hashes[1].encode()))
        write("policy_json", "serial-only-no-ca.json",
              json.dumps({"allow": [{"ek_certificate_serial": "04:c0:1d"}]}).encode())
        # ek_info: Intel's EK certificate service JSON (the corpus itself
        # is added by run_all.sh when ../shared/testdata/ek-certs exists).
        corpus = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "ek-certs"
        for f in sorted(corpus.glob("*.ekop.json")):
            write("ek_info", f.name, f.read_bytes())
        write("config_json", "full.json", json.dumps(
            {"tcti": "swtpm:port=2321", "ek_algorithm": "ecc", "ak_algorithm": "rsa",
             "endorsement_auth": "e", "owner_auth": "o", "ek_cert_file": "/x",
             "ak_cache_dir": "/tmp/c", "parameter_encryption": False}).encode())
        write("config_json", "empty.json", b"{}")
        for ak_alg, name in (("rsa", "entry.json"), ("ecc", "entry-ecc.json")):
            cache = Path(os.environ.get("TMPDIR", "/tmp")) / f"seed-cache-{os.getpid()}"
            with tj.Session(with_cert.config(ak_cache_dir=str(cache), ak_algorithm=ak_alg)) as s:
                s.begin(b"")
            for f in cache.iterdir():
                write("ak_cache", name, f.read_bytes())
            shutil.rmtree(cache)
    finally:
        with_cert.destroy()
        no_cert.destroy()


if __name__ == "__main__":
    main()
