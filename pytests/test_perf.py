"""TPM command budgets (counted with tpm2-tss' pcap TCTI and tshark),
parameter encryption, and the AK cache (ak_cache_dir)."""

import hashlib
import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import _tpmjoin as tj
import tpmjoin_pb2 as pb
from tpmharness import Variant, commands_in, make_challenge_tools, solution_of


def traced_join(tpm, tmp_path: Path, monkeypatch, **config):
    """One join (session open -> begin -> respond -> close) through the pcap
    TCTI. Returns (TPM commands, the secret, the raw capture)."""
    pcap = tmp_path / f"join-{os.urandom(4).hex()}.pcap"
    monkeypatch.setenv("TCTI_PCAP_FILE", str(pcap))
    cfg = json.loads(tpm.config(**config))
    cfg["tcti"] = "pcap:" + cfg["tcti"]
    secret = os.urandom(32)
    with tj.Session(json.dumps(cfg)) as s:
        init = s.begin(b"")
        answer = s.respond(make_challenge_tools(init, secret, tmp_path / pcap.stem))
    assert solution_of(answer) == secret
    return commands_in(pcap), secret, pcap.read_bytes(), init


@pytest.mark.parametrize("ak_alg", ["rsa", "ecc"])
def test_fresh_ak_join_within_10_commands(tpm, tmp_path, monkeypatch, ak_alg):
    cmds, _, _, _ = traced_join(tpm, tmp_path, monkeypatch, ak_algorithm=ak_alg)
    assert len(cmds) <= 10, cmds
    assert cmds.count("CreatePrimary") == 1
    assert "GetCapability" not in cmds, "no capability probing"
    assert cmds[-1] == "FlushContext"
    tpm.assert_clean()


def test_cached_ak_join_within_8_commands_and_no_key_generation(tpm, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first, _, _, init1 = traced_join(tpm, tmp_path, monkeypatch, ak_cache_dir=str(cache))
    assert "Create" in first
    second, _, _, init2 = traced_join(tpm, tmp_path, monkeypatch, ak_cache_dir=str(cache))
    assert len(second) <= 8, second
    assert "Create" not in second and "CreatePrimary" not in second
    assert "NV_Read" not in second, "the EK certificate comes from the cache"
    # The renewal presents the same AK and the same EK certificate.
    a1 = pb.RegisterUsingTPMMethodRequest.FromString(init1).init
    a2 = pb.RegisterUsingTPMMethodRequest.FromString(init2).init
    assert a1.attestation_params == a2.attestation_params
    assert a1.ek_cert == a2.ek_cert and a1.ek_cert
    tpm.assert_clean()


# The command sequence of each kind of join, per EK: swtpm's RSA EK (L-1,
# persistent, PolicySecret), its P-384 EK (H-3, persistent, userWithAuth: an
# HMAC session, no PolicySecret), and a P-256 EK with a certificate (L-2,
# PolicySecret). ECC EKs add one GetCapability(TPM_CAP_HANDLES): which ECC
# profile has a certificate in NV.
EK_KINDS = {
    "rsa-L1": (Variant(), "rsa"),
    "ecc-H3": (Variant(), "ecc"),
    "ecc-L2": (Variant(ecc_p256_cert=True), "ecc"),
}
FRESH = {
    "rsa-L1": ["ReadPublic", "NV_ReadPublic", "NV_Read", "CreatePrimary", "CertifyCreation",
               "StartAuthSession", "PolicySecret", "ActivateCredential", "FlushContext"],
    "ecc-H3": ["GetCapability", "ReadPublic", "NV_ReadPublic", "NV_Read", "CreatePrimary",
               "CertifyCreation", "StartAuthSession", "ActivateCredential", "FlushContext"],
    "ecc-L2": ["GetCapability", "ReadPublic", "NV_ReadPublic", "NV_Read", "CreatePrimary",
               "CertifyCreation", "StartAuthSession", "PolicySecret", "ActivateCredential",
               "FlushContext"],
}
# The first join with ak_cache_dir makes the AK as a child of the EK (so that
# its private part is sealed by the EK, issue 6): TPM2_Create + TPM2_Load
# (TPM2_CreateLoaded returns no creation data to certify), CertifyCreation,
# and ActivateCredential. A low-range EK is policy-only (no userWithAuth),
# and the TPM resets a policy session after every use, so each of the three
# uses of the EK (Create, Load, ActivateCredential) needs its own
# PolicySecret(TPM_RH_ENDORSEMENT): 12 commands for the RSA EK, where a
# fresh-AK join takes 9 (its budget 10), once; every renewal after it is 7.
FIRST_CACHED = {
    "rsa-L1": ["ReadPublic", "StartAuthSession", "NV_ReadPublic", "NV_Read", "PolicySecret",
               "Create", "PolicySecret", "Load", "CertifyCreation", "PolicySecret",
               "ActivateCredential", "FlushContext"],
    "ecc-H3": ["GetCapability", "ReadPublic", "StartAuthSession", "NV_ReadPublic", "NV_Read",
               "Create", "Load", "CertifyCreation", "ActivateCredential", "FlushContext"],
    "ecc-L2": ["GetCapability", "ReadPublic", "StartAuthSession", "NV_ReadPublic", "NV_Read",
               "PolicySecret", "Create", "PolicySecret", "Load", "CertifyCreation",
               "PolicySecret", "ActivateCredential", "FlushContext"],
}
# Renewals load the cached AK; the EK certificate comes from the cache, and
# an ECC EK is found from the profile the cache entry records (no
# GetCapability).
RENEWAL = {
    "rsa-L1": ["ReadPublic", "StartAuthSession", "PolicySecret", "Load", "PolicySecret",
               "ActivateCredential", "FlushContext"],
    "ecc-H3": ["ReadPublic", "StartAuthSession", "Load", "ActivateCredential", "FlushContext"],
    "ecc-L2": ["ReadPublic", "StartAuthSession", "PolicySecret", "Load", "PolicySecret",
               "ActivateCredential", "FlushContext"],
}


@pytest.mark.parametrize("ak_alg", ["rsa", "ecc"])
@pytest.mark.parametrize("kind", list(EK_KINDS))
def test_command_budgets_per_ek(make_tpm, tmp_path, monkeypatch, kind, ak_alg):
    variant, ek_alg = EK_KINDS[kind]
    tpm = make_tpm(variant)
    config = {"ek_algorithm": ek_alg, "ak_algorithm": ak_alg}
    fresh, _, _, _ = traced_join(tpm, tmp_path, monkeypatch, **config)
    assert fresh == FRESH[kind]
    assert len(fresh) <= 10
    cache = str(tmp_path / "cache")
    first, _, _, _ = traced_join(tpm, tmp_path, monkeypatch, ak_cache_dir=cache, **config)
    assert first == FIRST_CACHED[kind]
    for _ in range(2):
        renewal, _, _, _ = traced_join(tpm, tmp_path, monkeypatch, ak_cache_dir=cache, **config)
        assert renewal == RENEWAL[kind]
        assert len(renewal) <= 8
    tpm.assert_clean()


def test_remembered_ecc_ek_that_is_gone_falls_back_to_probing(tpm, tmp_path, monkeypatch):
    """The cache remembers the persistent H-3 EK. Evicted, the join probes the
    NV range again (not the persistent handle twice) and makes the EK from
    its template: the same key, so the cached AK still loads under it."""
    cache = str(tmp_path / "cache")
    _, _, _, first = traced_join(tpm, tmp_path, monkeypatch, ek_algorithm="ecc",
                                 ak_cache_dir=cache)
    tpm.tool("tpm2_evictcontrol", "-C", "o", "-c", "0x81010016")
    cmds, _, _, again = traced_join(tpm, tmp_path, monkeypatch, ek_algorithm="ecc",
                                    ak_cache_dir=cache)
    assert cmds == ["ReadPublic", "GetCapability", "CreatePrimary", "StartAuthSession", "Load",
                    "ActivateCredential", "FlushContext", "FlushContext"]
    a1 = pb.RegisterUsingTPMMethodRequest.FromString(first).init
    a2 = pb.RegisterUsingTPMMethodRequest.FromString(again).init
    assert a1.attestation_params == a2.attestation_params and a1.ek_cert == a2.ek_cert
    tpm.assert_clean()


def test_ek_chosen_by_ek_cert_file_is_not_remembered(make_tpm, tmp_path, monkeypatch):
    """ek_cert_file picks the P-384 EK; a later join without it follows the
    NV order (the P-256 L-2 EK comes first), not the cache's memory."""
    tpm = make_tpm(Variant(ecc_p256_cert=True))
    cert = tmp_path / "p384.der"
    tpm.tool("tpm2_nvread", "0x01C00016", "-C", "o", "-o", str(cert))
    cache = str(tmp_path / "cache")
    _, _, _, first = traced_join(tpm, tmp_path, monkeypatch, ek_algorithm="ecc",
                                 ek_cert_file=str(cert), ak_cache_dir=cache)
    _, _, _, later = traced_join(tpm, tmp_path, monkeypatch, ek_algorithm="ecc",
                                 ak_cache_dir=cache)
    curve = lambda init: x509.load_der_x509_certificate(  # noqa: E731
        pb.RegisterUsingTPMMethodRequest.FromString(init).init.ek_cert).public_key().curve.name
    assert (curve(first), curve(later)) == ("secp384r1", "secp256r1")
    tpm.assert_clean()


def test_parameter_encryption_hides_the_secret_from_the_bus(tpm, tmp_path, monkeypatch):
    """The recovered secret is in the capture only when encryption is off."""
    _, secret, raw, _ = traced_join(tpm, tmp_path, monkeypatch)
    assert secret not in raw
    _, secret, raw, _ = traced_join(tpm, tmp_path, monkeypatch,
                                    ak_cache_dir=str(tmp_path / "c"))
    assert secret not in raw
    _, secret, raw, _ = traced_join(tpm, tmp_path, monkeypatch, parameter_encryption=False)
    assert secret in raw


def test_parameter_encryption_for_high_range_ecc_ek(tpm, tmp_path, monkeypatch):
    """The P-384 EK (userWithAuth): an HMAC session salted with ECDH."""
    cmds, secret, raw, _ = traced_join(tpm, tmp_path, monkeypatch, ek_algorithm="ecc")
    assert "PolicySecret" not in cmds
    assert secret not in raw


def test_cache_files_are_private_and_named_by_ek(tpm, tmp_path):
    cache = tmp_path / "cache"
    ek_hash = json.loads(tj.identify(tpm.config()))["ek_pub_hash"]
    with tj.Session(tpm.config(ak_cache_dir=str(cache))) as s:
        s.respond(make_challenge_tools(s.begin(b""), os.urandom(32), tmp_path / "c"))
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    files = list(cache.iterdir())
    assert [f.name for f in files] == [f"ak-{ek_hash}-rsa.json"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    entry = json.loads(files[0].read_text())
    assert entry["ek_pub_hash"] == ek_hash and entry["version"] == 1


def self_signed_certificate_der() -> bytes:
    """A valid certificate for a key that is no TPM's EK."""
    import datetime
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def with_checksum(entry: dict) -> dict:
    """The entry with its "sha256" recomputed, as a writer that meant it
    would: SHA-256 over the fields, each behind its 8-byte length."""
    fields = [entry["ek_pub_hash"].encode(), entry["ak_algorithm"].encode()]
    fields += [bytes.fromhex(entry[k]) for k in
               ("public", "private", "create_data", "create_attestation", "create_signature")]
    fields += [bytes.fromhex(entry.get("ek_cert", "")), entry.get("ek_template", "").encode()]
    framed = b"".join(len(f).to_bytes(8, "big") + f for f in fields)
    return dict(entry, sha256=hashlib.sha256(framed).hexdigest())


def join_with_cache(tpm, tmp_path, cache, capfd, **config):
    with tj.Session(tpm.config(ak_cache_dir=str(cache), **config)) as s:
        init = s.begin(b"")
        s.respond(make_challenge_tools(init, os.urandom(32), tmp_path / os.urandom(4).hex()))
    return pb.RegisterUsingTPMMethodRequest.FromString(init).init, capfd.readouterr().err


# What the TPM checks when it loads the AK (public, private), and what it
# does not but a verifier will (the creation data, attestation, signature
# and EK certificate a renewal sends as they are).
@pytest.mark.parametrize("corruption", ["garbage", "truncated", "wrong types", "bad private",
                                        "other algorithm", "empty", "bad signature",
                                        "bad attestation", "short create_data", "bad ek_cert",
                                        "ek_cert signature", "other ek_cert"])
def test_corrupt_cache_file_is_replaced_with_a_warning(tpm, tmp_path, capfd, corruption):
    cache = tmp_path / "cache"
    first, _ = join_with_cache(tpm, tmp_path, cache, capfd)
    path = next(cache.iterdir())
    entry = json.loads(path.read_text())
    if corruption == "garbage":
        path.write_bytes(os.urandom(300))
    elif corruption == "truncated":
        path.write_text(path.read_text()[:100])
    elif corruption == "wrong types":
        entry["version"] = "1"
        entry["public"] = 5
        path.write_text(json.dumps(entry))
    elif corruption == "bad private":
        priv = bytearray.fromhex(entry["private"])
        priv[-1] ^= 1  # integrity check fails in the TPM
        entry["private"] = priv.hex()
        path.write_text(json.dumps(entry))
    elif corruption == "other algorithm":
        entry["ak_algorithm"] = "ecc"
        path.write_text(json.dumps(entry))
    elif corruption in ("bad signature", "bad attestation", "short create_data", "bad ek_cert"):
        field = {"bad signature": "create_signature", "bad attestation": "create_attestation",
                 "short create_data": "create_data", "bad ek_cert": "ek_cert"}[corruption]
        value = bytearray.fromhex(entry[field])
        if corruption in ("short create_data", "bad ek_cert"):
            del value[-1]
        else:
            value[len(value) // 2] ^= 1
        entry[field] = value.hex()
        path.write_text(json.dumps(entry))
    elif corruption == "ek_cert signature":
        cert = bytearray.fromhex(entry["ek_cert"])
        cert[-1] ^= 1  # still parses, same key: only the checksum shows it
        entry["ek_cert"] = cert.hex()
        path.write_text(json.dumps(entry))
    elif corruption == "other ek_cert":
        entry["ek_cert"] = self_signed_certificate_der().hex()  # a well-formed one
        path.write_text(json.dumps(entry))
    else:
        path.write_bytes(b"")
    second, err = join_with_cache(tpm, tmp_path, cache, capfd)
    assert "libtpmjoin: warning:" in err and "making a new AK" in err
    assert second.attestation_params.public != first.attestation_params.public
    # the replacement is good: the next join loads it silently
    third, err = join_with_cache(tpm, tmp_path, cache, capfd)
    assert err == ""
    assert third.attestation_params == second.attestation_params
    tpm.assert_clean()


def test_wrong_endorsement_auth_fails_the_join_and_keeps_the_cache(tpm, tmp_path, capfd):
    """A mistyped password says nothing about the cached AK: the join fails
    with the authorization error, the cache file stays, and the next join
    with the right password loads it."""
    cache = tmp_path / "cache"
    first, _ = join_with_cache(tpm, tmp_path, cache, capfd)
    path = next(cache.iterdir())
    stored = path.read_bytes()
    with tj.Session(tpm.config(ak_cache_dir=str(cache), endorsement_auth="n0t-1t")) as s:
        with pytest.raises(tj.Error) as e:
            s.begin(b"")
    assert e.value.args[0] == tj.ERR_TPM
    assert "endorsement" in e.value.args[1]
    assert "n0t-1t" not in e.value.args[1]
    assert "making a new AK" not in capfd.readouterr().err
    assert path.read_bytes() == stored
    again, err = join_with_cache(tpm, tmp_path, cache, capfd)
    assert err == ""
    assert again.attestation_params == first.attestation_params
    tpm.assert_clean()


def test_cache_of_another_tpm_is_never_used(make_tpm, tmp_path, capfd):
    a, b = make_tpm(), make_tpm()
    cache = tmp_path / "cache"
    join_with_cache(a, tmp_path, cache, capfd)
    a_entry = json.loads(next(cache.iterdir()).read_text())
    b_hash = json.loads(tj.identify(b.config()))["ek_pub_hash"]
    b_file = cache / f"ak-{b_hash}-rsa.json"
    # A's file under B's name: the EK recorded inside differs.
    b_file.write_text(json.dumps(a_entry))
    _, err = join_with_cache(b, tmp_path, cache, capfd)
    assert "made for another EK" in err
    # Its EK hash forged, the EK certificate is A's: caught before the TPM.
    b_file.write_text(json.dumps(with_checksum(dict(a_entry, ek_pub_hash=b_hash))))
    _, err = join_with_cache(b, tmp_path, cache, capfd)
    assert "its EK certificate is for another EK" in err
    # Without the certificate, B's TPM refuses to load A's sealed key.
    forged = dict(a_entry, ek_pub_hash=b_hash)
    del forged["ek_cert"]
    b_file.write_text(json.dumps(with_checksum(forged)))
    _, err = join_with_cache(b, tmp_path, cache, capfd)
    assert "the TPM refused the cached AK" in err
    assert json.loads(b_file.read_text())["private"] != a_entry["private"]
    b.assert_clean()


def test_changed_endorsement_seed_makes_a_new_ak(make_tpm, tmp_path, capfd):
    tpm = make_tpm(Variant(ek_certs=False))  # a certificate would no longer match
    cache = tmp_path / "cache"
    first, _ = join_with_cache(tpm, tmp_path, cache, capfd)
    tpm.tool("tpm2_changeeps")  # new EK: the old AK can never load again
    second, _ = join_with_cache(tpm, tmp_path, cache, capfd)
    assert second.ek_key != first.ek_key
    assert second.attestation_params.public != first.attestation_params.public
    assert len(list(cache.iterdir())) == 2
    tpm.assert_clean()


def test_stale_ek_certificate_in_nv_is_a_clear_error(tpm):
    tpm.tool("tpm2_changeeps")
    with tj.Session(tpm.config()) as s:
        with pytest.raises(tj.Error) as e:
            s.begin(b"")
    assert e.value.args[0] == tj.ERR_TPM
    assert "EK certificate from NV index 0x01c00002 is not for this TPM's L-1 EK" in \
        e.value.args[1]


@pytest.mark.parametrize("contents", [b"\x30\x03\x02\x01\x00", b"\x30\x00"])
def test_nv_index_holding_no_certificate_is_a_tpm_error(make_tpm, contents):
    """An EK certificate index whose DER is no certificate: the TPM's
    provisioning is at fault (TPM), not the caller (INVALID_ARGUMENT)."""
    tpm = make_tpm(Variant(ek_certs=False))
    tpm.write_nv("0x01C00002", contents)
    for call in (lambda: tj.identify(tpm.config()),
                 lambda: tj.Session(tpm.config()).begin(b"")):
        with pytest.raises(tj.Error) as e:
            call()
        assert e.value.args[0] == tj.ERR_TPM, e.value.args
        assert "NV index 0x01c00002" in e.value.args[1]
    tpm.assert_clean()


def test_unusable_cache_dir_never_fails_the_join(tpm, tmp_path, capfd):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    _, err = join_with_cache(tpm, tmp_path, blocker, capfd)
    assert "cannot cache the AK" in err



def test_loose_cache_dir_we_own_is_made_private(tpm, tmp_path, capfd):
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o755)  # readable by others only: what it holds can still be trusted
    first, err = join_with_cache(tpm, tmp_path, loose, capfd)
    assert "had mode 0755; set it to 0700" in err
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700
    assert len(list(loose.iterdir())) == 1
    second, err = join_with_cache(tpm, tmp_path, loose, capfd)
    assert err == ""
    assert second.attestation_params == first.attestation_params


def test_cache_dir_others_could_write_is_cleared(tpm, tmp_path, capfd):
    """Whatever sat in a directory others could write to may have been
    planted: it is removed, never loaded."""
    cache = tmp_path / "shared-by-mistake"
    first, _ = join_with_cache(tpm, tmp_path, cache, capfd)
    cache.chmod(0o777)
    (cache / f"ak-{'0' * 64}-ecc.json").write_text("{}")  # planted for later
    second, err = join_with_cache(tpm, tmp_path, cache, capfd)
    assert "writable by others; set it to 0700 and removed the 2 cache files" in err
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert second.attestation_params != first.attestation_params, "a new AK, not the old file"
    assert [f.name for f in cache.iterdir()] == [f"ak-{ek_hash(first)}-rsa.json"]
    tpm.assert_clean()


def ek_hash(init) -> str:
    return hashlib.sha256(x509.load_der_x509_certificate(init.ek_cert).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


@pytest.mark.parametrize("kind", ["symlink", "writable by others", "another owner"])
def test_cache_file_anyone_else_could_have_written_is_not_read(tpm, tmp_path, capfd, kind):
    cache = tmp_path / "cache"
    first, _ = join_with_cache(tpm, tmp_path, cache, capfd)
    path = cache / f"ak-{ek_hash(first)}-rsa.json"
    if kind == "symlink":
        target = tmp_path / "elsewhere.json"
        path.rename(target)
        path.symlink_to(target)
    elif kind == "writable by others":
        path.chmod(0o666)
    else:
        os.chown(path, 65534, -1)  # the runs are root
    second, err = join_with_cache(tpm, tmp_path, cache, capfd)
    assert f'ignoring the cached AK "{path}"' in err
    assert second.attestation_params != first.attestation_params
    assert path.is_file() and not path.is_symlink()
    third, err = join_with_cache(tpm, tmp_path, cache, capfd)
    assert err == "" and third.attestation_params == second.attestation_params
    tpm.assert_clean()


def _refused(tpm, tmp_path, cache, capfd, first, needle):
    """A join with a refused cache dir neither reads nor writes it."""
    entry = next(cache.iterdir())
    before = entry.read_bytes()
    init, err = join_with_cache(tpm, tmp_path, cache, capfd)
    assert needle in err
    assert "ignoring the AK cache" in err and "cannot cache the AK" in err
    assert init.attestation_params.public != first.attestation_params.public, "not read"
    assert entry.read_bytes() == before and len(list(cache.iterdir())) == 1, "not written"


def test_shared_or_foreign_cache_dir_is_refused_for_reading_and_writing(tpm, tmp_path, capfd):
    cache = tmp_path / "cache"
    first, _ = join_with_cache(tpm, tmp_path, cache, capfd)
    # A shared sticky directory (like /tmp): never made private, never used.
    cache.chmod(0o1777)
    _refused(tpm, tmp_path, cache, capfd, first, "is a shared directory (mode 1777)")
    assert stat.S_IMODE(cache.stat().st_mode) == 0o1777
    cache.chmod(0o700)
    if os.geteuid() == 0:  # only root can hand a directory to another user
        os.chown(cache, 65534, -1)
        _refused(tpm, tmp_path, cache, capfd, first, "belongs to uid 65534")
        os.chown(cache, 0, -1)
    third, err = join_with_cache(tpm, tmp_path, cache, capfd)
    assert err == "" and third.attestation_params == first.attestation_params
    tpm.assert_clean()


def test_stale_temp_files_are_removed(tpm, tmp_path, capfd):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    name = "ak-" + "ab" * 32 + "-rsa.json"
    stale, fresh, other = cache / f"{name}.Xa1b2c", cache / f"{name}.Yd3e4f", cache / "notes.txt"
    for path in (stale, fresh, other):
        path.write_text("{")
    hour_ago = time.time() - 3600
    for path in (stale, other):
        os.utime(path, (hour_ago, hour_ago))
    join_with_cache(tpm, tmp_path, cache, capfd)
    names = {p.name for p in cache.iterdir()}
    assert stale.name not in names, "a crashed writer's old temp file is removed"
    assert fresh.name in names, "a temp file another writer may still rename is kept"
    assert other.name in names, "files that are not ours are left alone"
