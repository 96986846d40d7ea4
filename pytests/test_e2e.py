"""Both sides of the protocol against swtpm: the agent plugin and the
verifier, joins that must work and the attacks a TPM join exists to stop."""

import base64
import json
import os
import struct
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

import _tpmjoin as tj
import tpmjoin_pb2 as pb
from tpmharness import Variant, pkix_hash


def status(excinfo) -> int:
    return excinfo.value.args[0]


def message(excinfo) -> str:
    return excinfo.value.args[1]


def policy(*rules, cas=None, intermediates=None) -> str:
    p = {"allow": list(rules)}
    if cas is not None:
        p["ekcert_allowed_cas"] = cas
    if intermediates is not None:
        p["ekcert_intermediate_cas"] = intermediates
    return json.dumps(p)


def identify(tpm, **config) -> dict:
    return json.loads(tj.identify(tpm.config(**config)))


def allow_tpm(tpm, **config) -> str:
    """A policy allowing this TPM's EK by hash, trusting its issuing CA."""
    info = identify(tpm, **config)
    return policy({"description": "this TPM", "ek_public_hash": info["ek_pub_hash"]},
                  cas=[tpm.issuer_ca_pem])


def join(session, verifier, join_request=b"join-request") -> dict:
    init = session.begin(join_request)
    challenge, response = verifier.challenge(init)
    answer = session.respond(response)
    return json.loads(challenge.finish(answer))


def expect(code, fn, *args):
    with pytest.raises(tj.Error) as e:
        fn(*args)
    assert status(e) == code, message(e)
    assert message(e), "every failure has a message"
    return message(e)


def end_join(session):
    """Ends a pending join the server refused (respond ends it whatever the
    outcome; an empty challenge is BAD_MESSAGE)."""
    expect(tj.ERR_BAD_MESSAGE, session.respond, b"")


def with_init(init: bytes, **changes) -> bytes:
    """A copy of an init request with fields replaced."""
    msg = pb.RegisterUsingTPMMethodRequest.FromString(init)
    params = msg.init.attestation_params
    for field, value in changes.items():
        if field in ("public", "create_data", "create_attestation", "create_signature"):
            setattr(params, field, value)
        elif field == "ek_cert":
            msg.init.ek_cert = value
        elif field == "ek_key":
            msg.init.ek_key = value
        elif field == "attestation_params":
            params.CopyFrom(value)
    return msg.SerializeToString()


def flip(data: bytes, index: int) -> bytes:
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


# -- 1. success matrix --------------------------------------------------------

@pytest.mark.parametrize("ek_alg", ["rsa", "ecc"])
@pytest.mark.parametrize("ak_alg", ["rsa", "ecc"])
@pytest.mark.parametrize("with_cert", [True, False], ids=["cert", "nocert"])
def test_join_matrix(make_tpm, tmp_path, ek_alg, ak_alg, with_cert):
    tpm = make_tpm(Variant(ek_certs=with_cert))
    config = dict(ek_algorithm=ek_alg, ak_algorithm=ak_alg)
    info = identify(tpm, **config)
    # The hash computed independently from the TPM's EK (tpm2-tools + cryptography).
    handle = {"rsa": "0x81010001", "ecc": "0x81010016" if with_cert else None}[ek_alg]
    if handle is None:  # the L-2 EK, made by CreatePrimary
        tpm.tool("tpm2_createek", "-c", str(tmp_path / "ek.ctx"), "-G", "ecc", "-f", "pem",
                 "-u", str(tmp_path / "ek.pem"))
        tpm.tool("tpm2_flushcontext", "-t")
    else:
        tpm.tool("tpm2_readpublic", "-c", handle, "-f", "pem", "-o", str(tmp_path / "ek.pem"))
    key = serialization.load_pem_public_key((tmp_path / "ek.pem").read_bytes())
    assert info["ek_pub_hash"] == pkix_hash(key)

    cas = [tpm.issuer_ca_pem] if with_cert else None
    v = tj.Verifier(policy({"description": "m", "ek_public_hash": info["ek_pub_hash"]}, cas=cas))
    with tj.Session(tpm.config(**config)) as s:
        result = join(s, v, join_request=b"\x0a\x05hello")
    assert result["ek_pub_hash"] == info["ek_pub_hash"]
    assert result["ek_cert_verified"] is with_cert
    assert result["matched_rule"] == "m"
    assert base64.b64decode(result["join_request"]) == b"\x0a\x05hello"
    if with_cert:
        assert result["ek_cert_serial"] == info["ek_cert_serial"]
        assert result["tpm_model"] == "swtpm"
        assert result["tpm_manufacturer"] == "id:00001014"
    else:
        assert result["ek_cert_serial"] == ""


# -- 2. certificate authorities ---------------------------------------------

def test_ca_anchored_at_issuer_or_root_with_intermediate(tpm):
    h = identify(tpm)["ek_pub_hash"]
    rule = {"ek_public_hash": h}
    with tj.Session(tpm.config()) as s:
        for p in (policy(rule, cas=[tpm.issuer_ca_pem]),
                  policy(rule, cas=[tpm.root_ca_pem], intermediates=[tpm.issuer_ca_pem])):
            assert join(s, tj.Verifier(p))["ek_cert_verified"] is True
        # The root alone cannot reach the EK certificate.
        v = tj.Verifier(policy(rule, cas=[tpm.root_ca_pem]))
        init = s.begin(b"")
        text = expect(tj.ERR_DENIED, v.challenge, init)
        assert "does not chain" in text or "chain rejected" in text
        end_join(s)


def test_unrelated_ca_is_denied(make_tpm):
    a, b = make_tpm(), make_tpm()
    v = tj.Verifier(policy({"ek_public_hash": identify(a)["ek_pub_hash"]},
                           cas=[b.issuer_ca_pem, b.root_ca_pem]))
    with tj.Session(a.config()) as s:
        init = s.begin(b"")
        text = expect(tj.ERR_DENIED, v.challenge, init)
        end_join(s)
    # B's issuing CA has the same name as A's ("CN=swtpm-localca"): found by
    # name, refused by its signature, and reported as no listed CA issuing it.
    assert "EK certificate does not chain to any of ekcert_allowed_cas" in text, text


def test_ca_required_but_only_ek_key_is_denied(make_tpm):
    tpm = make_tpm(Variant(ek_certs=False))
    h = identify(tpm)["ek_pub_hash"]
    other = make_tpm()
    v = tj.Verifier(policy({"ek_public_hash": h}, cas=[other.issuer_ca_pem]))
    with tj.Session(tpm.config()) as s:
        init = s.begin(b"")
        text = expect(tj.ERR_DENIED, v.challenge, init)
        end_join(s)
    assert "EK certificate required" in text


# -- 3. allow rules ------------------------------------------------------------

def test_rules_by_hash_serial_and_both(tpm):
    info = identify(tpm)
    h, serial = info["ek_pub_hash"], info["ek_cert_serial"]
    with tj.Session(tpm.config()) as s:
        for rule in ({"description": "hash", "ek_public_hash": h.upper()},
                     {"description": "serial", "ek_certificate_serial": serial},
                     {"description": "both", "ek_public_hash": h,
                      "ek_certificate_serial": serial}):
            other = {"description": "other", "ek_public_hash": "ab" * 32}
            # A serial-only rule needs ekcert_allowed_cas (the verifier refuses it without).
            result = join(s, tj.Verifier(policy(other, rule, cas=[tpm.issuer_ca_pem])))
            assert result["matched_rule"] == rule["description"]


@pytest.mark.parametrize("rule", [
    {"ek_public_hash": "ab" * 32},
    {"ek_certificate_serial": "04:c0:1d:b4:00:b0:c9"},
    "hash-right-serial-wrong",
])
def test_rule_mismatch_is_denied_before_any_challenge(tpm, rule):
    if rule == "hash-right-serial-wrong":
        rule = {"ek_public_hash": identify(tpm)["ek_pub_hash"], "ek_certificate_serial": "ff"}
    v = tj.Verifier(policy(rule, cas=[tpm.issuer_ca_pem]))  # serial-only rules need CAs
    with tj.Session(tpm.config()) as s:
        init = s.begin(b"")
        text = expect(tj.ERR_DENIED, v.challenge, init)
        end_join(s)
    assert "allow" in text or "rule" in text


# -- 4. swapped AK ----------------------------------------------------------

def test_swapped_ak_cannot_be_answered_by_either_tpm(make_tpm):
    a, b = make_tpm(), make_tpm()
    v = tj.Verifier(allow_tpm(a))
    with tj.Session(a.config()) as sa, tj.Session(b.config()) as sb:
        init_a = pb.RegisterUsingTPMMethodRequest.FromString(sa.begin(b""))
        init_b = pb.RegisterUsingTPMMethodRequest.FromString(sb.begin(b""))
        # A's EK with B's AK: well-formed, allowed, and the AK is genuine.
        forged = pb.RegisterUsingTPMMethodRequest()
        forged.CopyFrom(init_a)
        forged.init.attestation_params.CopyFrom(init_b.init.attestation_params)
        challenge, response = v.challenge(forged.SerializeToString())
        # A holds the EK but not that AK; B holds the AK but not the EK.
        expect(tj.ERR_TPM, sa.respond, response)
        expect(tj.ERR_TPM, sb.respond, response)
    wrong = pb.RegisterUsingTPMMethodRequest()
    wrong.challenge_response.solution = os.urandom(32)
    expect(tj.ERR_DENIED, challenge.finish, wrong.SerializeToString())


# -- 5. tampering -------------------------------------------------------------

# Each tampered field trips its own check: the message says which.
TAMPERED_MESSAGES = {
    "public": "the certified object's name is not the name of `public`",
    "create_data": "creationHash is not the hash of create_data",
    "create_attestation": "signature over create_attestation does not verify",
    "create_signature": "signature over create_attestation does not verify",
}


@pytest.mark.parametrize("ak_alg", ["rsa", "ecc"])
def test_each_tampered_field_is_denied(tpm, ak_alg):
    v = tj.Verifier(allow_tpm(tpm))
    with tj.Session(tpm.config(ak_algorithm=ak_alg)) as s:
        init = s.begin(b"")
        params = pb.RegisterUsingTPMMethodRequest.FromString(init).init.attestation_params
        tampered = {
            # the last byte of the RSA modulus / the ECC point's y: the name
            # no longer matches
            "public": flip(params.public, len(params.public) - 1),
            # a byte of the creation data's parent qualified name:
            # creationHash differs
            "create_data": flip(params.create_data, len(params.create_data) - 3),
            # the attestation's clockInfo.safe: the signature no longer verifies
            "create_attestation": flip(params.create_attestation, 60),
            # the signature itself (the RSA signature's / ECDSA s's last byte)
            "create_signature": flip(params.create_signature, len(params.create_signature) - 1),
        }
        assert tampered.keys() == TAMPERED_MESSAGES.keys()
        for field, value in tampered.items():
            text = expect(tj.ERR_DENIED, v.challenge, with_init(init, **{field: value}))
            assert TAMPERED_MESSAGES[field] in text, (field, text)
        # the untampered request still passes
        challenge, response = v.challenge(init)
        result = json.loads(challenge.finish(s.respond(response)))
    assert result["ak_algorithm"].startswith({"rsa": "rsa2048-rsassa", "ecc": "ecc-p256-ecdsa"}[ak_alg])


def tools_attestation(tpm, workdir: Path, attributes: str) -> pb.TPMAttestationParameters:
    """An AK made and certified entirely by tpm2-tools (createprimary +
    certifycreation). tpm2-tools leaves contexts loaded on a TPM without a
    resource manager, so flush after each step."""
    workdir.mkdir(parents=True, exist_ok=True)
    w = lambda name: str(workdir / name)  # noqa: E731
    tpm.tool("tpm2_createprimary", "-Q", "-C", "o", "-G", "rsa2048:rsassa-sha256:null",
             "-a", attributes, "-c", w("ak.ctx"), "--creation-data", w("cd.bin"),
             "--creation-ticket", w("tk.bin"), "--creation-hash", w("ch.bin"))
    tpm.tool("tpm2_flushcontext", "-t")
    tpm.tool("tpm2_certifycreation", "-C", w("ak.ctx"), "-c", w("ak.ctx"), "-d", w("ch.bin"),
             "-t", w("tk.bin"), "-g", "sha256", "-o", w("sig.bin"), "--attestation", w("att.bin"))
    tpm.tool("tpm2_flushcontext", "-t")
    tpm.tool("tpm2_readpublic", "-c", w("ak.ctx"), "-f", "tpmt", "-o", w("ak.tpmt"))
    tpm.tool("tpm2_flushcontext", "-t")
    params = pb.TPMAttestationParameters()
    params.public = (workdir / "ak.tpmt").read_bytes()
    params.create_data = (workdir / "cd.bin").read_bytes()[2:]  # TPM2B_CREATION_DATA
    params.create_attestation = (workdir / "att.bin").read_bytes()
    params.create_signature = (workdir / "sig.bin").read_bytes()
    return params


def tools_init(tpm, workdir, attributes) -> tuple[bytes, Path]:
    tpm.tool("tpm2_nvread", "0x01C00002", "-C", "o", "-o", str(workdir / "ek.der"))
    msg = pb.RegisterUsingTPMMethodRequest()
    msg.init.join_request = b"tools"
    msg.init.ek_cert = (workdir / "ek.der").read_bytes()
    msg.init.attestation_params.CopyFrom(tools_attestation(tpm, workdir, attributes))
    return msg.SerializeToString(), workdir


AK_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign"


def test_join_prepared_and_answered_by_tpm2_tools(tpm, tmp_path):
    """The verifier accepts an AK made by tpm2-tools, and tpm2_activatecredential
    (policy session with PolicySecret(endorsement)) answers its challenge."""
    init, w = tools_init(tpm, tmp_path, AK_ATTRIBUTES)
    v = tj.Verifier(allow_tpm(tpm))
    challenge, response = v.challenge(init)
    cred = pb.RegisterUsingTPMMethodResponse.FromString(response).challenge_request
    (w / "cred.in").write_bytes(struct.pack(">II", 0xBADCC0DE, 1) + cred.credential_blob
                                + cred.secret)
    tpm.tool("tpm2_startauthsession", "--policy-session", "-S", str(w / "session.ctx"))
    tpm.tool("tpm2_policysecret", "-S", str(w / "session.ctx"), "-c", "e")
    tpm.tool("tpm2_activatecredential", "-c", str(w / "ak.ctx"), "-C", "0x81010001",
             "-i", str(w / "cred.in"), "-o", str(w / "secret.out"),
             "-P", f"session:{w / 'session.ctx'}")
    tpm.tool("tpm2_flushcontext", str(w / "session.ctx"), check=False)
    tpm.tool("tpm2_flushcontext", "-t")
    answer = pb.RegisterUsingTPMMethodRequest()
    answer.challenge_response.solution = (w / "secret.out").read_bytes()
    result = json.loads(challenge.finish(answer.SerializeToString()))
    assert base64.b64decode(result["join_request"]) == b"tools"


def test_unrestricted_signing_key_is_denied(tpm, tmp_path):
    init, _ = tools_init(tpm, tmp_path,
                         "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign")
    text = expect(tj.ERR_DENIED, tj.Verifier(allow_tpm(tpm)).challenge, init)
    assert "restricted" in text


# -- 6. replay ----------------------------------------------------------------

def test_replayed_solution_and_second_finish(tpm):
    v = tj.Verifier(allow_tpm(tpm))
    with tj.Session(tpm.config()) as s:
        init = s.begin(b"")
        first, response = v.challenge(init)
        old_answer = s.respond(response)
        json.loads(first.finish(old_answer))
        expect(tj.ERR_STATE, first.finish, old_answer)
        # A new challenge for the very same init request: the old answer is
        # worthless (fresh secret, fresh seed).
        second, response2 = v.challenge(init)
        assert response2 != response
        expect(tj.ERR_DENIED, second.finish, old_answer)
        expect(tj.ERR_STATE, second.finish, old_answer)


# -- 7. misuse ----------------------------------------------------------------

def test_garbage_and_wrong_messages_at_every_step(tpm):
    v = tj.Verifier(allow_tpm(tpm))
    with tj.Session(tpm.config()) as s:
        init = s.begin(b"")
        challenge, response = v.challenge(init)
        answer = s.respond(response)
        for bad in (b"", b"\xff\x00garbage", answer, response):
            expect(tj.ERR_BAD_MESSAGE, v.challenge, bad)
        json.loads(challenge.finish(answer))
        for bad in (b"\xff\x00garbage", init, response):
            fresh, _ = v.challenge(init)
            expect(tj.ERR_BAD_MESSAGE, fresh.finish, bad)
            # a challenge is finished once, whatever the outcome
            expect(tj.ERR_STATE, fresh.finish, answer)
        expect(tj.ERR_STATE, s.respond, response)
        for bad in (init, answer, b"\x0a"):
            s.begin(b"")
            expect(tj.ERR_BAD_MESSAGE, s.respond, bad)
        s.begin(b"")
        expect(tj.ERR_STATE, s.begin, b"")
        end_join(s)
    for bad in ("", "{", "[]", '{"allow": []}', '{"allow": [{}]}',
                '{"allow": [{"ek_public_hash": "zz"}]}', '{"allow": [], "x": 1}',
                '{"allow": [{"ek_public_hash": "' + "ab" * 32 + '"}], '
                '"ekcert_allowed_cas": ["not a pem"]}'):
        expect(tj.ERR_INVALID_ARGUMENT, tj.Verifier, bad)


# -- 8. faults ----------------------------------------------------------------

def test_tpm_killed_between_begin_and_respond(tpm):
    v = tj.Verifier(allow_tpm(tpm))
    s = tj.Session(tpm.config())
    _, response = v.challenge(s.begin(b""))
    tpm.kill()
    text = expect(tj.ERR_TPM_UNAVAILABLE, s.respond, response)
    assert "lost the connection to the TPM" in text
    expect(tj.ERR_TPM_UNAVAILABLE, s.begin, b"")
    s.close()
    tpm.start()
    with tj.Session(tpm.config()) as s2:
        assert join(s2, v)["ek_cert_verified"] is True


# -- 9. soak ------------------------------------------------------------------

@pytest.mark.slow
def test_soak_200_joins_on_one_swtpm(tpm):
    """No resource manager: every object and session must be flushed, or the
    TPM's three object slots run out within a few joins."""
    v = tj.Verifier(allow_tpm(tpm))
    joins = 0
    for _ in range(20):
        with tj.Session(tpm.config()) as s:
            for _ in range(10):
                join(s, v)
                joins += 1
    assert joins == 200
    tpm.assert_clean()


# -- 10. concurrency ----------------------------------------------------------

@pytest.mark.concurrency
def test_four_threads_25_joins_each_with_one_shared_verifier(make_tpm):
    tpms = [make_tpm() for _ in range(4)]
    rules = [{"description": f"tpm{i}", "ek_public_hash": identify(t)["ek_pub_hash"]}
             for i, t in enumerate(tpms)]
    v = tj.Verifier(policy(*rules, cas=[t.issuer_ca_pem for t in tpms]))
    results, errors = [[] for _ in tpms], []

    def worker(i):
        try:
            with tj.Session(tpms[i].config(ak_algorithm="ecc" if i % 2 else "rsa")) as s:
                for _ in range(25):
                    results[i].append(join(s, v)["matched_rule"])
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [[f"tpm{i}"] * 25 for i in range(4)]
