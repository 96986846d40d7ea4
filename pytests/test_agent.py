"""The agent plugin against swtpm, with challenges made by independent
implementations (tpm2-tools' tpm2_makecredential, tpm2-pytss)."""

import json
import os
import struct
import subprocess

import pytest

import _tpmjoin as tj
import tpmjoin_pb2 as pb
from tpmharness import (Variant, commands_in, init_ek_key, make_challenge_pytss,
                        make_challenge_tools, pkix_hash, solution_of)


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


# -- ek_cert_file with an ECC EK ----------------------------------------------

def _der_from_nv(tpm, index: str, path) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    tpm.tool("tpm2_nvread", index, "-C", "o", "-o", str(path))
    cert = x509.load_der_x509_certificate(path.read_bytes())
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("curve,index,profile", [
    ("secp384r1", "0x01C00016", "H-3"),  # swtpm_setup's own ECC EK certificate
    ("secp256r1", "0x01C0000A", "L-2"),
])
def test_ecc_ek_cert_file_picks_the_ek_by_curve(make_tpm, tmp_path, curve, index, profile):
    tpm = make_tpm(Variant(ecc_p256_cert=curve == "secp256r1"))
    path = tmp_path / "ek.der"
    der = _der_from_nv(tpm, index, path)
    config = tpm.config(ek_algorithm="ecc", ek_cert_file=str(path))
    with tj.Session(config) as s:
        init = join_once(s, tmp_path)
    assert init.ek_cert == der
    assert init_ek_key(init).curve.name == curve
    info = json.loads(tj.identify(config))
    assert info["ek_template"] == profile and info["ek_persistent"] is True


def test_ecc_ek_cert_file_with_an_rsa_certificate_is_rejected(tpm, tmp_path):
    path = tmp_path / "rsa.der"
    _der_from_nv(tpm, "0x01C00002", path)
    with tj.Session(tpm.config(ek_algorithm="ecc", ek_cert_file=str(path))) as s:
        with pytest.raises(tj.Error) as e:
            s.begin(b"")
    assert status(e) == tj.ERR_INVALID_ARGUMENT
    assert "holds a rsa2048 certificate" in message(e)


# -- config size -----------------------------------------------------------------

def config_of_size(size: int) -> str:
    wrapper = '{"tcti":""}'
    return wrapper[:9] + "x" * (size - len(wrapper)) + wrapper[9:]


def test_config_over_1_mib_is_an_invalid_argument():
    huge = config_of_size((1 << 20) + 1)
    assert len(huge) == (1 << 20) + 1
    for call in (tj.Session, tj.identify):
        with pytest.raises(tj.Error) as e:
            call(huge)
        assert status(e) == tj.ERR_INVALID_ARGUMENT
        assert "config_json is longer than 1048576 bytes" in message(e)
    # Exactly 1 MiB is parsed, and its TCTI tried.
    fits = config_of_size(1 << 20)
    with pytest.raises(tj.Error) as e:
        tj.identify(fits)
    assert status(e) == tj.ERR_TPM_UNAVAILABLE


# -- EK template and nonce in NV (TCG EK Credential Profile) -------------------

POLICY_A = bytes.fromhex("837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa")
POLICY_B_SHA256 = bytes.fromhex(
    "ca3d0a99a2b93906f7a3342414efcfb3a385d44cd1fd459089d19b5071c0b7a0")
# fixedTPM|fixedParent|sensitiveDataOrigin|adminWithPolicy|restricted|decrypt
LOW_ATTRS = 0x000300B2
USER_WITH_AUTH = 0x40
SIGN = 0x40000
NIST_P256, NIST_P384 = 0x0003, 0x0004


def ek_template(alg: str, *, attrs=LOW_ATTRS, curve=NIST_P256, policy=POLICY_A) -> bytes:
    """A marshaled TPMT_PUBLIC EK template (unique empty), as an EK template
    NV index holds it."""
    out = struct.pack(">HHI", 0x0001 if alg == "rsa" else 0x0023, 0x000B, attrs)
    out += struct.pack(">H", len(policy)) + policy
    out += struct.pack(">HHH", 0x0006, 128, 0x0043)  # AES-128-CFB
    if alg == "rsa":
        return out + struct.pack(">HHIH", 0x0010, 2048, 0, 0)
    return out + struct.pack(">HHHHH", 0x0010, curve, 0x0010, 0, 0)


def nv_base(alg: str) -> int:
    return 0x01C00002 if alg == "rsa" else 0x01C0000A  # certificate; +1 nonce, +2 template


def createprimary_ek_hash(tpm, tmp_path, alg: str, *, attrs=LOW_ATTRS, nonce=b"") -> str:
    """SHA-256 of the PKIX DER of the EK that tpm2_createprimary makes from
    the template fields, with the unique field the EK Credential Profile
    gives for an EK nonce: the nonce zero-padded to 256 bytes (RSA), or to 32
    bytes for x with 32 zero bytes for y (P-256); the default templates'
    zeros for an empty nonce; an empty unique (an NV template used
    unmodified) for None. (Debian 12's tpm2_createek -t cannot be the
    reference: it needs both indices and copies the nonce from the wrong
    address, so its EK changes from run to run.)"""
    from cryptography.hazmat.primitives import serialization
    names = ["fixedtpm", "fixedparent", "sensitivedataorigin", "adminwithpolicy", "restricted",
             "decrypt"] + (["userwithauth"] if attrs & USER_WITH_AUTH else [])
    policy, ctx, pem = (tmp_path / f"{n}-{os.urandom(3).hex()}" for n in ("policy", "ctx", "pem"))
    policy.write_bytes(POLICY_A)
    cmd = ["tpm2_createprimary", "-C", "e", "-g", "sha256",
           "-G", "rsa2048:aes128cfb" if alg == "rsa" else "ecc256:aes128cfb",
           "-a", "|".join(names), "-L", str(policy), "-c", str(ctx)]
    unique = b""
    if nonce is not None:
        unique = nonce.ljust(256, b"\0") if alg == "rsa" else nonce.ljust(32, b"\0") + bytes(32)
        cmd += ["-u", "-"]
    proc = subprocess.run(cmd, input=unique, capture_output=True,
                          env=dict(os.environ, TPM2TOOLS_TCTI=tpm.tcti))
    assert proc.returncode == 0, proc.stderr
    tpm.tool("tpm2_readpublic", "-c", str(ctx), "-f", "pem", "-o", str(pem))
    tpm.tool("tpm2_flushcontext", "-t")
    return pkix_hash(serialization.load_pem_public_key(pem.read_bytes()))


@pytest.mark.parametrize("alg,nonce_len", [("rsa", 16), ("rsa", None), ("ecc", 20), ("ecc", 32)],
                         ids=["rsa-template-nonce", "rsa-template", "ecc-template-nonce",
                              "ecc-template-full-nonce"])
def test_ek_from_nv_template_and_nonce(make_tpm, tmp_path, alg, nonce_len):
    """No persistent EK: CreatePrimary with the template (and nonce) from NV,
    the unique field built as the TCG EK Credential Profile says."""
    tpm = make_tpm(Variant(ek_certs=False, create_eks=False))
    config = tpm.config(ek_algorithm=alg)
    default_hash = json.loads(tj.identify(config))["ek_pub_hash"]
    assert default_hash == createprimary_ek_hash(tpm, tmp_path, alg)
    # userWithAuth: an EK template the profile allows that differs from the
    # default, so the EK shows which template was used.
    attrs = LOW_ATTRS | USER_WITH_AUTH
    tpm.write_nv(hex(nv_base(alg) + 2), ek_template(alg, attrs=attrs))
    nonce = os.urandom(nonce_len) if nonce_len else b""
    if nonce:
        tpm.write_nv(hex(nv_base(alg) + 1), nonce)
    info = json.loads(tj.identify(config))
    assert info["ek_template"] == ("L-1" if alg == "rsa" else "L-2")
    assert info["ek_persistent"] is False
    assert info["ek_pub_hash"] != default_hash
    # Without a nonce the NV template is used unmodified (its unique empty).
    assert info["ek_pub_hash"] == createprimary_ek_hash(tpm, tmp_path, alg, attrs=attrs,
                                                        nonce=nonce or None)
    with tj.Session(config) as s:
        init = join_once(s, tmp_path)
    assert pkix_hash(init_ek_key(init)) == info["ek_pub_hash"]


@pytest.mark.parametrize("alg", ["rsa", "ecc"])
def test_ek_nonce_without_template_goes_into_the_default_template(make_tpm, tmp_path, alg):
    tpm = make_tpm(Variant(ek_certs=False, create_eks=False))
    config = tpm.config(ek_algorithm=alg)
    nonce = os.urandom(12)
    tpm.write_nv(hex(nv_base(alg) + 1), nonce)
    with_nonce = json.loads(tj.identify(config))["ek_pub_hash"]
    assert with_nonce == createprimary_ek_hash(tpm, tmp_path, alg, nonce=nonce)
    # The default template stored in NV too: the same EK.
    tpm.write_nv(hex(nv_base(alg) + 2), ek_template(alg))
    assert json.loads(tj.identify(config))["ek_pub_hash"] == with_nonce


@pytest.mark.parametrize("alg,template,needle", [
    ("rsa", ek_template("rsa", attrs=LOW_ATTRS | SIGN), "not a restricted decryption key"),
    ("ecc", ek_template("ecc", curve=NIST_P384), "its curve is not NIST P-256"),
    ("rsa", ek_template("ecc"), "not an RSA key"),
    ("rsa", ek_template("rsa", policy=POLICY_B_SHA256),
     "that is not PolicySecret(TPM_RH_ENDORSEMENT)"),
    ("rsa", b"\x00\x01\x00\x0b\xff", "does not hold a TPMT_PUBLIC"),
], ids=["sign", "curve", "type", "policy", "garbage"])
def test_nv_template_that_is_not_an_ek_template_is_refused(make_tpm, alg, template, needle):
    tpm = make_tpm(Variant(ek_certs=False, create_eks=False))
    tpm.write_nv(hex(nv_base(alg) + 2), template)
    with pytest.raises(tj.Error) as e:
        tj.identify(tpm.config(ek_algorithm=alg))
    assert status(e) == tj.ERR_TPM
    assert f"0x{nv_base(alg) + 2:08x}" in message(e)
    assert needle in message(e)


def test_nv_template_with_padding_is_read(make_tpm, tmp_path):
    tpm = make_tpm(Variant(ek_certs=False, create_eks=False))
    attrs = LOW_ATTRS | USER_WITH_AUTH
    tpm.write_nv("0x01C00004", ek_template("rsa", attrs=attrs) + b"\xff" * 40)
    assert json.loads(tj.identify(tpm.config()))["ek_pub_hash"] == \
        createprimary_ek_hash(tpm, tmp_path, "rsa", attrs=attrs, nonce=None)


# -- EK certificates in NV with padding or a TCG header --------------------------

def _rsa_ek_key(tpm, tmp_path):
    from cryptography.hazmat.primitives import serialization
    pem = tmp_path / "ek.pem"
    tpm.tool("tpm2_readpublic", "-c", "0x81010001", "-f", "pem", "-o", str(pem))
    return serialization.load_pem_public_key(pem.read_bytes())


def _large_extension(size: int):
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier
    body = os.urandom(size)
    value = b"\x04\x82" + struct.pack(">H", size) + body  # an OCTET STRING
    return x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.55555.1"), value)


def _tcg_header(der: bytes) -> bytes:
    # TCG PC Client stored certificate: tag 0x1001, certType 0 (full),
    # certSize (of what follows), tag 0x1002, then the DER.
    return b"\x10\x01\x00" + struct.pack(">H", len(der) + 2) + b"\x10\x02"


@pytest.mark.parametrize("layout", ["padded", "tcg-header", "tcg-header-padded",
                                    "small-padded"])
def test_nv_certificate_with_padding_or_tcg_header(make_tpm, tmp_path, monkeypatch, layout):
    """The RSA EK certificate index larger than the certificate: 0xFF padding
    after the DER (as STMicro TPMs ship) and/or a TCG header before it;
    certificates over 1024 bytes need a second TPM2_NV_Read."""
    tpm = make_tpm(Variant(ek_certs=False))  # persistent EKs, no certificates
    extra = [] if layout == "small-padded" else [_large_extension(700)]
    der = tpm.issue_ek_cert(_rsa_ek_key(tpm, tmp_path), serial=0x5151,
                            extra_extensions=extra)
    assert (len(der) > 1024) == (layout != "small-padded")
    contents = {
        "padded": der + b"\xff" * 300,
        "tcg-header": _tcg_header(der) + der,
        "tcg-header-padded": _tcg_header(der) + der + b"\xff" * 200,
        "small-padded": der + b"\xff" * (1400 - len(der)),
    }[layout]
    tpm.write_nv("0x01C00002", contents)
    pcap = tmp_path / "join.pcap"
    monkeypatch.setenv("TCTI_PCAP_FILE", str(pcap))
    with tj.Session(tpm.config(tcti="pcap:" + tpm.tcti)) as s:
        init = join_once(s, tmp_path)
    assert init.ek_cert == der
    # Only the bytes the DER needs are read: 1024, then the rest of the DER.
    assert commands_in(pcap).count("NV_Read") == (1 if layout == "small-padded" else 2)
    info = json.loads(tj.identify(tpm.config()))
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    pem_der = x509.load_pem_x509_certificate(info["ek_cert_pem"].encode()).public_bytes(
        serialization.Encoding.DER)
    assert pem_der == der


# -- high-range ECC EKs without a persistent handle -------------------------------

HIGH_ATTRS = LOW_ATTRS | USER_WITH_AUTH


def _make_high_range_ek(tpm, tmp_path, profile: str):
    """Makes the H-2 or H-4 EK with tpm2-tools (not persisted) and returns
    its public key."""
    from cryptography.hazmat.primitives import serialization
    ctx, pem = tmp_path / "h.ctx", tmp_path / "h.pem"
    if profile == "H-4":
        tpm.tool("tpm2_createek", "-G", "ecc521", "-c", str(ctx), "-u", str(pem), "-f", "pem")
    else:
        policy = tmp_path / "policy_b.bin"
        policy.write_bytes(POLICY_B_SHA256)
        tpm.tool("tpm2_createprimary", "-C", "e", "-G", "ecc256:aes128cfb", "-g", "sha256",
                 "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|adminwithpolicy|"
                       "restricted|decrypt",
                 "-L", str(policy), "-c", str(ctx))
        tpm.tool("tpm2_readpublic", "-c", str(ctx), "-f", "pem", "-o", str(pem))
    tpm.tool("tpm2_flushcontext", "-t")
    return serialization.load_pem_public_key(pem.read_bytes())


@pytest.mark.parametrize("profile,index,curve", [("H-2", "0x01C00014", "secp256r1"),
                                                 ("H-4", "0x01C00018", "secp521r1")])
def test_high_range_ecc_ek_is_made_from_its_template(make_tpm, tmp_path, profile, index, curve):
    """A certificate for the H-2 (P-256) or H-4 (P-521) EK and no persistent
    EK: the agent makes the EK from the profile's template."""
    tpm = make_tpm(Variant(ek_certs=False, create_eks=False))
    der = tpm.issue_ek_cert(_make_high_range_ek(tpm, tmp_path, profile), serial=0x4242)
    tpm.write_nv(index, der, attributes="ownerread|authread|ownerwrite|no_da")
    config = tpm.config(ek_algorithm="ecc")
    info = json.loads(tj.identify(config))
    assert (info["ek_template"], info["ek_persistent"], info["ek_cert_present"]) == \
        (profile, False, True)

    def join(session):
        if profile == "H-2":
            return join_once(session, tmp_path)
        # tpm2_makecredential -T none (5.4) makes unusable credentials for
        # P-521 EKs; the verifier makes this one.
        verifier = tj.Verifier(json.dumps({"allow": [{"ek_public_hash": info["ek_pub_hash"]}]}))
        init = session.begin(b"")
        challenge, response = verifier.challenge(init)
        result = json.loads(challenge.finish(session.respond(response)))
        assert result["ek_pub_hash"] == info["ek_pub_hash"]
        return pb.RegisterUsingTPMMethodRequest.FromString(init).init

    with tj.Session(config) as s:
        init = join(s)
    assert init.ek_cert == der
    assert init_ek_key(init).curve.name == curve
    if profile == "H-4":  # the certificate as ek_cert_file picks H-4 by its curve
        (tmp_path / "h4.der").write_bytes(der)
        with tj.Session(tpm.config(ek_algorithm="ecc", ek_cert_file=str(tmp_path / "h4.der"))) as s:
            assert join(s).ek_cert == der
