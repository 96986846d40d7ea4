"""TPM command budgets (counted with tpm2-tss' pcap TCTI and tshark),
parameter encryption, and the AK cache (ak_cache_dir)."""

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

import _tpmjoin as tj
import tpmjoin_pb2 as pb
from tpmharness import Variant, make_challenge_tools, solution_of


def commands_in(pcap: Path) -> list[str]:
    out = subprocess.run(["tshark", "-r", str(pcap), "-V"], capture_output=True, text=True,
                         check=True).stdout
    return [line.split("Command Code: ")[1].split(" ")[0].replace("TPM2_CC_", "")
            for line in out.splitlines() if "Command Code:" in line]


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


def join_with_cache(tpm, tmp_path, cache, capfd, **config):
    with tj.Session(tpm.config(ak_cache_dir=str(cache), **config)) as s:
        init = s.begin(b"")
        s.respond(make_challenge_tools(init, os.urandom(32), tmp_path / os.urandom(4).hex()))
    return pb.RegisterUsingTPMMethodRequest.FromString(init).init, capfd.readouterr().err


@pytest.mark.parametrize("corruption", ["garbage", "truncated", "wrong types", "bad private",
                                        "other algorithm", "empty"])
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
    # With the EK hash forged too, B's TPM refuses to load A's sealed key.
    b_file.write_text(json.dumps(dict(a_entry, ek_pub_hash=b_hash)))
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


def test_unusable_cache_dir_never_fails_the_join(tpm, tmp_path, capfd):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    _, err = join_with_cache(tpm, tmp_path, blocker, capfd)
    assert "cannot cache the AK" in err
    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o777)
    open_dir.chmod(0o777)
    _, err = join_with_cache(tpm, tmp_path, open_dir, capfd)
    assert "writable by others" in err
    assert list(open_dir.iterdir()) == []
