"""The agent plugin against swtpm, with challenges made by independent
implementations (tpm2-tools' tpm2_makecredential, tpm2-pytss)."""

import json
import os

import pytest

import _tpmjoin as tj
import tpmjoin_pb2 as pb
from tpmharness import (Variant, init_ek_key, make_challenge_pytss, make_challenge_tools,
                        pkix_hash, solution_of)


def status(excinfo) -> int:
    return excinfo.value.args[0]


def message(excinfo) -> str:
    return excinfo.value.args[1]


def join_once(session, tmp_path, join_request=b"join-request", maker="tools"):
    init = session.begin(join_request)
    secret = os.urandom(32)
    if maker == "tools":
        challenge = make_challenge_tools(init, secret, tmp_path / os.urandom(4).hex())
    else:
        challenge = make_challenge_pytss(init, secret)
    answer = session.respond(challenge)
    assert solution_of(answer) == secret
    return pb.RegisterUsingTPMMethodRequest.FromString(init).init


@pytest.mark.parametrize("ek_alg", ["rsa", "ecc"])
@pytest.mark.parametrize("ak_alg", ["rsa", "ecc"])
@pytest.mark.parametrize("with_cert", [True, False], ids=["cert", "nocert"])
def test_join_matrix(make_tpm, tmp_path, ek_alg, ak_alg, with_cert):
    tpm = make_tpm(Variant(ek_certs=with_cert))
    with tj.Session(tpm.config(ek_algorithm=ek_alg, ak_algorithm=ak_alg)) as s:
        init = join_once(s, tmp_path, join_request=b"\x0a\x03abc")
    assert init.join_request == b"\x0a\x03abc"
    assert init.HasField("ek_cert") == with_cert
    assert init.HasField("ek_key") != with_cert
    key = init_ek_key(init)
    if ek_alg == "rsa":
        assert key.key_size == 2048
    else:
        # swtpm_setup's ECC EK (with a certificate) is H-3 P-384; without any
        # ECC certificate the agent uses the L-2 P-256 EK.
        assert key.curve.name == ("secp384r1" if with_cert else "secp256r1")


def test_rsa_join_with_pytss_credential(tpm, tmp_path):
    with tj.Session(tpm.config()) as s:
        join_once(s, tmp_path, maker="pytss")


def test_ecc_p256_ek_with_certificate_is_preferred(make_tpm, tmp_path):
    tpm = make_tpm(Variant(ecc_p256_cert=True))
    with tj.Session(tpm.config(ek_algorithm="ecc")) as s:
        init = join_once(s, tmp_path, maker="pytss")
    assert init.HasField("ek_cert")
    assert init_ek_key(init).curve.name == "secp256r1"


def test_ek_without_persistent_handle_is_created(make_tpm, tmp_path):
    """Certificates in NV but no persistent EK (AMD fTPM, many Infineons):
    the EK is made by CreatePrimary from the template, matches the cert, and
    is flushed at close."""
    tpm = make_tpm(Variant(evict_eks=True))
    assert "0x81010001" not in tpm.handles("persistent")
    for ek_alg in ("rsa", "ecc"):
        with tj.Session(tpm.config(ek_algorithm=ek_alg)) as s:
            init = join_once(s, tmp_path)
        assert init.HasField("ek_cert")
        tpm.assert_clean()


def test_tpm_without_any_ek(make_tpm, tmp_path):
    tpm = make_tpm(Variant(ek_certs=False, create_eks=False))
    with tj.Session(tpm.config()) as s:
        init = join_once(s, tmp_path)
    assert init.HasField("ek_key")


def test_ek_cert_file(tpm, tmp_path):
    cert = tpm.tool("tpm2_nvread", "0x01C00002", "-C", "o", "-o", str(tmp_path / "nv.bin"))
    del cert
    der = (tmp_path / "nv.bin").read_bytes()
    pem_path = tmp_path / "ek.pem"
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    c = x509.load_der_x509_certificate(der)
    pem_path.write_bytes(c.public_bytes(serialization.Encoding.PEM))
    for path in (tmp_path / "nv.bin", pem_path):
        with tj.Session(tpm.config(ek_cert_file=str(path))) as s:
            init = join_once(s, tmp_path)
        assert init.ek_cert == c.public_bytes(serialization.Encoding.DER)


def test_ek_cert_file_for_another_tpm_is_rejected(make_tpm, tmp_path):
    a = make_tpm()
    b = make_tpm()
    b.tool("tpm2_nvread", "0x01C00002", "-C", "o", "-o", str(tmp_path / "b.der"))
    with tj.Session(a.config(ek_cert_file=str(tmp_path / "b.der"))) as s:
        with pytest.raises(tj.Error) as e:
            s.begin(b"")
    assert status(e) == tj.ERR_INVALID_ARGUMENT
    assert "not for this TPM" in message(e)


def test_ek_cert_file_missing_or_garbage(tpm, tmp_path):
    (tmp_path / "junk").write_bytes(b"not a certificate")
    for path, text in ((tmp_path / "absent.der", "cannot read"), (tmp_path / "junk", "ek_cert_file")):
        with tj.Session(tpm.config(ek_cert_file=str(path))) as s:
            with pytest.raises(tj.Error) as e:
                s.begin(b"")
        assert status(e) == tj.ERR_INVALID_ARGUMENT
        assert text in message(e)


def test_renewals_in_one_session(tpm, tmp_path):
    with tj.Session(tpm.config()) as s:
        publics = {join_once(s, tmp_path).attestation_params.public for _ in range(3)}
    assert len(publics) == 3, "every join makes a fresh AK"


def test_hierarchy_passwords(make_tpm, tmp_path):
    tpm = make_tpm(Variant(endorsement_auth="e-secret", owner_auth="o-secret"))
    with tj.Session(tpm.config()) as s:
        join_once(s, tmp_path)
    # Wrong owner password: the AK cannot be made; the message says what to do
    # and never repeats the password.
    with tj.Session(tpm.config(owner_auth="wrong-owner")) as s:
        with pytest.raises(tj.Error) as e:
            s.begin(b"")
    assert status(e) == tj.ERR_TPM
    assert "TPM2_CreatePrimary(AK, owner hierarchy)" in message(e)
    assert "owner_auth" in message(e)
    assert "wrong-owner" not in message(e)
    # Wrong endorsement password: PolicySecret fails at respond.
    with tj.Session(tpm.config(endorsement_auth="wrong-endorsement")) as s:
        init = s.begin(b"")
        challenge = make_challenge_tools(init, os.urandom(32), tmp_path / "c")
        with pytest.raises(tj.Error) as e:
            s.respond(challenge)
    assert status(e) == tj.ERR_TPM
    assert "TPM2_PolicySecret(TPM_RH_ENDORSEMENT)" in message(e)
    assert "wrong-endorsement" not in message(e)


def test_out_of_order_calls(tpm, tmp_path):
    with tj.Session(tpm.config()) as s:
        with pytest.raises(tj.Error) as e:
            s.respond(b"")
        assert status(e) == tj.ERR_STATE
        assert "no join is pending" in message(e)
        init = s.begin(b"")
        with pytest.raises(tj.Error) as e:
            s.begin(b"")
        assert status(e) == tj.ERR_STATE
        assert "already pending" in message(e)
        s.respond(make_challenge_tools(init, os.urandom(32), tmp_path / "c"))
        with pytest.raises(tj.Error) as e:
            s.respond(b"")
        assert status(e) == tj.ERR_STATE
        join_once(s, tmp_path)


def _garbage_challenges(init: bytes, good: bytes):
    good_msg = pb.RegisterUsingTPMMethodResponse.FromString(good)
    blob = good_msg.challenge_request.credential_blob
    secret = good_msg.challenge_request.secret

    def challenge(b, s):
        m = pb.RegisterUsingTPMMethodResponse()
        m.challenge_request.credential_blob = b
        m.challenge_request.secret = s
        return m.SerializeToString()

    certs = pb.RegisterUsingTPMMethodResponse()
    certs.certs = b"\x01\x02"
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    return {
        "empty": (b"", tj.ERR_BAD_MESSAGE),
        "not protobuf": (b"\xff\xff\xff\xff", tj.ERR_BAD_MESSAGE),
        "agent message": (init, tj.ERR_BAD_MESSAGE),
        "certs instead of challenge": (certs.SerializeToString(), tj.ERR_BAD_MESSAGE),
        "blob without size prefix": (challenge(blob[2:], secret), tj.ERR_BAD_MESSAGE),
        "secret without size prefix": (challenge(blob, secret[2:]), tj.ERR_BAD_MESSAGE),
        "trailing byte": (challenge(blob + b"\x00", secret), tj.ERR_BAD_MESSAGE),
        "truncated": (challenge(blob[:-1], secret), tj.ERR_BAD_MESSAGE),
        "empty fields": (challenge(b"", b""), tj.ERR_BAD_MESSAGE),
        "tampered blob": (challenge(bytes(flipped), secret), tj.ERR_TPM),
        "swapped fields": (challenge(secret, blob), tj.ERR_BAD_MESSAGE),
        "secret of another EK": (challenge(blob, secret[:-8] + bytes(8)), tj.ERR_TPM),
    }


def test_garbage_challenges(tpm, tmp_path):
    with tj.Session(tpm.config()) as s:
        init = s.begin(b"")
        good = make_challenge_tools(init, os.urandom(32), tmp_path / "good")
        s.respond(good)
        for name, (bad, expected) in _garbage_challenges(init, good).items():
            s.begin(b"")
            with pytest.raises(tj.Error) as e:
                s.respond(bad)
            assert status(e) == expected, name
            assert message(e).startswith("tpmjoin_join_respond: "), name
        # After all that the session still joins, and nothing is left loaded.
        join_once(s, tmp_path)


def test_credential_for_another_ak_is_refused_by_the_tpm(tpm, tmp_path):
    with tj.Session(tpm.config()) as s:
        first = s.begin(b"")
        s.respond(make_challenge_tools(first, os.urandom(32), tmp_path / "a"))
        second = s.begin(b"")
        # A credential bound to the first AK's name, answered with the second AK.
        stale = make_challenge_tools(
            second, os.urandom(32), tmp_path / "b",
            name=__import__("tpmharness").ak_name(
                pb.RegisterUsingTPMMethodRequest.FromString(first).init.attestation_params.public))
        with pytest.raises(tj.Error) as e:
            s.respond(stale)
    assert status(e) == tj.ERR_TPM
    assert "TPM2_ActivateCredential" in message(e)


def test_identify_matches_tpm2_tools(tpm, tmp_path):
    from cryptography.hazmat.primitives import serialization
    info = json.loads(tj.identify(tpm.config()))
    tpm.tool("tpm2_readpublic", "-c", "0x81010001", "-f", "pem", "-o", str(tmp_path / "ek.pem"))
    key = serialization.load_pem_public_key((tmp_path / "ek.pem").read_bytes())
    assert info["ek_pub_hash"] == pkix_hash(key)
    assert info["ek_cert_present"] is True
    assert info["ek_algorithm"] == "rsa"
    assert info["ek_key_type"] == "rsa2048"
    assert info["tpm_manufacturer"] == "IBM"
    props = tpm.tool("tpm2_getcap", "properties-fixed")
    assert "SW" in info["tpm_vendor_string"] and "TPM" in info["tpm_vendor_string"]
    fw1 = int(props.split("TPM2_PT_FIRMWARE_VERSION_1:")[1].split("raw:")[1].split()[0], 16)
    assert info["tpm_firmware_version"].startswith(f"{fw1 >> 16}.{fw1 & 0xffff}.")
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(info["ek_cert_pem"].encode())
    expected_serial = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 7) // 8, "big")
    assert info["ek_cert_serial"] == ":".join(f"{b:02x}" for b in expected_serial)
    tpm.assert_clean()


def test_identify_without_certificate(make_tpm):
    tpm = make_tpm(Variant(ek_certs=False))
    info = json.loads(tj.identify(tpm.config(ek_algorithm="ecc")))
    assert info["ek_cert_present"] is False
    assert info["ek_cert_serial"] == ""
    assert "ek_cert_pem" not in info
    assert info["ek_key_type"] == "ecc-p256"


@pytest.mark.parametrize("config,needle", [
    ('{"tcti": 5}', '"tcti" must be a string'),
    ('{"ek_algorithm": "dsa"}', '"ek_algorithm" must be "rsa" or "ecc"'),
    ('{"ak_algorithm": null}', '"ak_algorithm" must be a string'),
    ('{"colour": "blue"}', 'unknown config key "colour"'),
    ('{"endorsement_auth": []}', '"endorsement_auth" must be a string'),
    ('[1]', "must be a JSON object"),
    ('{', "not valid JSON"),
])
def test_config_rejections(config, needle):
    with pytest.raises(tj.Error) as e:
        tj.Session(config)
    assert status(e) == tj.ERR_INVALID_ARGUMENT
    assert needle in message(e)


def test_unreachable_tpm():
    port = __import__("tpmharness").free_port()
    for call in (lambda c: tj.Session(c), tj.identify):
        with pytest.raises(tj.Error) as e:
            call(f'{{"tcti": "swtpm:host=127.0.0.1,port={port}"}}')
        assert status(e) == tj.ERR_TPM_UNAVAILABLE
        assert "cannot connect to the TPM" in message(e)


def test_tpm_killed_between_begin_and_respond(tpm, tmp_path):
    s = tj.Session(tpm.config())
    init = s.begin(b"")
    challenge = make_challenge_tools(init, os.urandom(32), tmp_path / "c")
    tpm.kill()
    with pytest.raises(tj.Error) as e:
        s.respond(challenge)
    assert status(e) == tj.ERR_TPM_UNAVAILABLE
    assert "lost the connection to the TPM" in message(e)
    s.close()
    tpm.start()
    with tj.Session(tpm.config()) as s2:
        join_once(s2, tmp_path)
