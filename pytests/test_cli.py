"""The tpmjoin CLI: identify, ekinfo, demo (exit codes, output, clean-up)."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tpmharness import Variant, pkix_hash

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "ek-certs"


@pytest.fixture
def cli(build_dir):
    path = build_dir / "cli" / "tpmjoin"

    def run(*args, env=None, timeout=120):
        return subprocess.run([str(path), *args], capture_output=True, text=True,
                              env=env, timeout=timeout)
    run.path = path
    return run


def swtpm_processes_under(directory: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-af", "swtpm"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(directory) in line]


@pytest.mark.parametrize("args", [["--help"], ["help"], ["identify", "--help"],
                                  ["ekinfo", "--help"], ["demo", "--help"]])
def test_help(cli, args):
    r = cli(*args)
    assert r.returncode == 0
    assert r.stdout.startswith("usage: tpmjoin")
    assert "Exit codes" in r.stdout


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["identify", "--bogus"], ["ekinfo"],
                                  ["demo", "--tcti"]])
def test_usage_errors_exit_2(cli, args):
    r = cli(*args)
    assert r.returncode == 2
    assert "usage: tpmjoin" in r.stderr


def test_identify_human_output_matches_tpm2_tools(cli, tpm, tmp_path):
    r = cli("identify", "--tcti", tpm.tcti, "--debug")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    assert r.stdout.startswith("TPM Information\n")
    tpm.tool("tpm2_readpublic", "-c", "0x81010001", "-f", "pem", "-o", str(tmp_path / "ek.pem"))
    key = serialization.load_pem_public_key((tmp_path / "ek.pem").read_bytes())
    assert lines["EKPub Hash"] == pkix_hash(key)
    assert lines["EKCert Detected"] == "true"
    tpm.tool("tpm2_nvread", "0x01C00002", "-C", "o", "-o", str(tmp_path / "ek.der"))
    cert = x509.load_der_x509_certificate((tmp_path / "ek.der").read_bytes())
    assert lines["EKCert Serial"] == ":".join(
        f"{b:02x}" for b in cert.serial_number.to_bytes(
            max(1, (cert.serial_number.bit_length() + 7) // 8), "big"))
    assert lines["TPM Manufacturer"] == "IBM (0x49424d00)"
    assert "-----BEGIN PUBLIC KEY-----" in r.stdout
    assert "-----BEGIN CERTIFICATE-----" in r.stdout


def test_identify_json_and_ecc(cli, tpm, tmp_path):
    r = cli("identify", "--tcti", tpm.tcti, "--json", "--ecc")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    tpm.tool("tpm2_readpublic", "-c", "0x81010016", "-f", "pem", "-o", str(tmp_path / "ek.pem"))
    key = serialization.load_pem_public_key((tmp_path / "ek.pem").read_bytes())
    assert info["ek_pub_hash"] == pkix_hash(key)
    assert info["ek_key_type"] == "ecc-p384"


def test_identify_without_certificate_and_env_tcti(cli, make_tpm):
    tpm = make_tpm(Variant(ek_certs=False))
    r = cli("identify", env=dict(os.environ, TPM2TOOLS_TCTI=tpm.tcti))
    assert r.returncode == 0, r.stderr
    assert "EKCert Detected: false" in r.stdout
    assert "EKCert Serial" not in r.stdout


def test_identify_without_tpm_fails_with_a_hint(cli):
    r = cli("identify", "--tcti", "swtpm:host=127.0.0.1,port=1")
    assert r.returncode == 1
    assert "cannot connect to the TPM" in r.stderr
    assert "TPMJOIN_ERR_TPM_UNAVAILABLE" in r.stderr


def openssl_facts(pem_path: Path) -> tuple[str, str]:
    """EKPub hash and colon serial as plain OpenSSL computes them (python-
    cryptography refuses some real EK certificates, e.g. Nuvoton's unsorted
    SETs)."""
    import hashlib
    pub = subprocess.run(["openssl", "x509", "-in", str(pem_path), "-noout", "-pubkey"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True).stdout
    serial = subprocess.run(["openssl", "x509", "-in", str(pem_path), "-noout", "-serial"],
                            check=True, capture_output=True, text=True).stdout
    hexserial = serial.strip().split("=", 1)[1].lower().lstrip("0") or "0"
    hexserial = hexserial.zfill(len(hexserial) + len(hexserial) % 2)
    return hashlib.sha256(der).hexdigest(), ":".join(
        hexserial[i:i + 2] for i in range(0, len(hexserial), 2))


@pytest.mark.parametrize("name,key_type", [
    ("infineon-ek-rsa2048-optiga-ca035.pem", "rsa2048"),
    ("infineon-ek-ecc-p256-optiga-ca035.pem", "ecc-p256"),
    ("nuvoton-ek-rsa2048-npct75x-root2111-a.pem", "rsa2048"),
    ("stm-ek-rsa2048-int05.nvraw.bin", "rsa2048"),
])
def test_ekinfo_on_real_certificates(cli, name, key_type):
    path = SHARED / name
    r = cli("ekinfo", str(path))
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(": ", 1) for line in r.stdout.splitlines()
                 if ": " in line and not line.startswith(" "))
    pem_path = path if path.suffix == ".pem" else path.with_suffix("").with_suffix(".pem")
    pub_hash, serial = openssl_facts(pem_path)
    assert lines["EKPub Hash"] == pub_hash
    assert lines["Key Type"] == key_type
    assert lines["EKCert Serial"] == serial
    assert "tpm:\n  allow:\n    - description:" in r.stdout
    assert f'ek_public_hash: "{pub_hash}"' in r.stdout
    assert f'ek_certificate_serial: "{serial}"' in r.stdout


def test_ekinfo_on_public_key_and_garbage(cli, tmp_path):
    cert = x509.load_pem_x509_certificate(
        (SHARED / "infineon-ek-rsa2048-optiga-ca035.pem").read_bytes())
    der = cert.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "ek.der").write_bytes(der)
    r = cli("ekinfo", str(tmp_path / "ek.der"))
    assert r.returncode == 0, r.stderr
    assert "EK public key" in r.stdout
    assert "ek_certificate_serial" not in r.stdout
    (tmp_path / "junk").write_bytes(b"\x30\x03junk")
    r = cli("ekinfo", str(tmp_path / "junk"))
    assert r.returncode == 1
    assert "TPMJOIN_ERR_INVALID_ARGUMENT" in r.stderr
    r = cli("ekinfo", str(tmp_path / "missing"))
    assert r.returncode == 1
    assert "cannot read" in r.stderr


@pytest.mark.parametrize("flags", [[], ["--ecc"]])
def test_demo_joins_and_cleans_up(cli, tmp_path, flags):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    r = cli("demo", *flags, env=env)
    assert r.returncode == 0, r.stderr
    assert "Join succeeded" in r.stdout
    result = json.loads(r.stdout.split("Verifier result:\n", 1)[1])
    assert result["ek_cert_verified"] is True
    assert result["matched_rule"] == "demo TPM"
    assert "ActivateCredential" in r.stdout
    assert list(tmp_path.iterdir()) == []
    assert swtpm_processes_under(tmp_path) == []


def test_demo_against_given_tpm(cli, tpm):
    r = cli("demo", "--tcti", tpm.tcti)
    assert r.returncode == 0, r.stderr
    assert "no CA configured" in r.stdout
    assert json.loads(r.stdout.split("Verifier result:\n", 1)[1])["ek_cert_verified"] is False


def test_demo_failure_cleans_up(cli, tmp_path):
    """swtpm_setup cannot write its state: the demo fails, and leaves nothing."""
    env = dict(os.environ, TMPDIR=str(tmp_path / "missing-dir"))
    r = cli("demo", env=env)
    assert r.returncode == 1
    assert swtpm_processes_under(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_demo_interrupted_cleans_up(cli, tmp_path, sig):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([str(cli.path), "demo"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # Wait until swtpm_setup is running (its state dir exists), then interrupt.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not list(tmp_path.glob("tpmjoin-demo-*/state/*")):
        time.sleep(0.01)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert list(tmp_path.iterdir()) == []
    time.sleep(0.2)
    assert swtpm_processes_under(tmp_path) == []
