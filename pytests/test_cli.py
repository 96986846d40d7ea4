"""The tpmjoin CLI: identify, ekinfo, demo (exit codes, output, clean-up)."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tpmharness import Variant, pkix_hash, swtpm_processes_under

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "ek-certs"


@pytest.fixture
def cli(build_dir):
    path = build_dir / "cli" / "tpmjoin"

    def run(*args, env=None, timeout=120):
        return subprocess.run([str(path), *args], capture_output=True, text=True,
                              env=env, timeout=timeout)
    run.path = path
    return run


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


def getcap_fixed(tpm) -> dict:
    """tpm2-tools' view of the TPM's fixed properties: name -> {raw, value}."""
    import yaml
    return yaml.safe_load(tpm.tool("tpm2_getcap", "properties-fixed"))


def vendor_string(fixed: dict) -> str:
    """TPM_PT_VENDOR_STRING_1..4 from their raw words: four characters each,
    NULs dropped, runs of spaces as one (the words pad with spaces)."""
    raw = b"".join(fixed[f"TPM2_PT_VENDOR_STRING_{i}"]["raw"].to_bytes(4, "big")
                   for i in range(1, 5))
    return " ".join(raw.replace(b"\0", b"").decode("ascii").split())


def firmware_version(fixed: dict) -> str:
    """FIRMWARE_VERSION_1 and _2 as four 16-bit numbers."""
    one = fixed["TPM2_PT_FIRMWARE_VERSION_1"]["raw"]
    two = fixed["TPM2_PT_FIRMWARE_VERSION_2"]["raw"]
    return f"{one >> 16}.{one & 0xffff}.{two >> 16}.{two & 0xffff}"


# identify's progress line on stderr: the label, a dot a second, the duration.
PROGRESS = re.compile(r"Reading the TPM's EK \(tpmjoin_identify; [^)]*\) \.\.\.(\.*) "
                      r"(\d+\.\d{3}) s\n")


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
    fixed = getcap_fixed(tpm)
    manufacturer = fixed["TPM2_PT_MANUFACTURER"]
    assert lines["TPM Manufacturer"] == f"{manufacturer['value']} (0x{manufacturer['raw']:08x})"
    assert lines["TPM Vendor String"] == vendor_string(fixed)
    assert lines["TPM Firmware Version"] == firmware_version(fixed)
    assert lines["EK Key Type"] == "rsa2048"
    assert "-----BEGIN PUBLIC KEY-----" in r.stdout
    assert "-----BEGIN CERTIFICATE-----" in r.stdout
    assert PROGRESS.fullmatch(r.stderr), r.stderr


def test_identify_json_and_ecc(cli, tpm, tmp_path):
    r = cli("identify", "--tcti", tpm.tcti, "--json", "--ecc")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    tpm.tool("tpm2_readpublic", "-c", "0x81010016", "-f", "pem", "-o", str(tmp_path / "ek.pem"))
    key = serialization.load_pem_public_key((tmp_path / "ek.pem").read_bytes())
    assert info["ek_pub_hash"] == pkix_hash(key)
    assert info["ek_key_type"] == "ecc-p384"
    fixed = getcap_fixed(tpm)
    assert info["tpm_manufacturer"] == fixed["TPM2_PT_MANUFACTURER"]["value"]
    assert info["tpm_manufacturer_id"] == f"0x{fixed['TPM2_PT_MANUFACTURER']['raw']:08x}"
    assert info["tpm_vendor_string"] == vendor_string(fixed)
    assert info["tpm_firmware_version"] == firmware_version(fixed)


def test_identify_shows_progress_while_making_an_ek(cli, make_tpm, build_dir, tmp_path):
    """No persistent EK: identify makes one with TPM2_CreatePrimary, which a
    busy TPM (RETRY, ~2 s of backoff here) makes slow. Dots on stderr while
    it runs; stdout is exactly the JSON."""
    tpm = make_tpm(Variant(ek_certs=False, create_eks=False))
    log = tmp_path / "commands.log"
    # (ESAPI's own warnings about each RETRY silenced: our lines only.)
    env = dict(os.environ, TPMJOIN_FAULTS="CreatePrimary=922*45", TPMJOIN_FAULTS_LOG=str(log),
               TSS2_LOG="all+none")
    r = cli("identify", "--json", "--tcti", f"{fault_tcti(build_dir)}:{tpm.tcti}", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ek_cert_present"] is False  # stdout is the JSON alone
    assert log.read_text().split().count("0x131") == 46  # 45 refusals, then the EK
    m = PROGRESS.fullmatch(r.stderr)
    assert m, r.stderr
    assert len(m.group(1)) >= 1 and float(m.group(2)) >= 1.0, r.stderr


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


def fault_tcti(build_dir: Path) -> Path:
    return build_dir / "tests" / "libtpmjoin-fault-tcti.so"


def openssl_tcg_san(pem_path: Path) -> dict:
    """The TCG attributes of the subjectAltName directoryName, as plain
    OpenSSL prints them (2.23.133.2.1 manufacturer, .2 model, .3 version)."""
    out = subprocess.run(["openssl", "x509", "-in", str(pem_path), "-noout", "-ext",
                          "subjectAltName"], check=True, capture_output=True, text=True).stdout
    dirname = out.split("DirName:", 1)[1].strip()
    return dict(part.split("=", 1) for part in re.split(r"[/+](?=2\.23\.133\.)", dirname)
                if part)


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
    san = openssl_tcg_san(pem_path)
    assert lines["TPM Manufacturer"] == san["2.23.133.2.1"]
    assert lines["TPM Model"] == san["2.23.133.2.2"]
    assert lines["TPM Version"] == san["2.23.133.2.3"]
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


SHIMS = {
    # swtpm_setup writes part of a TPM state into its TMPDIR (the demo's
    # dir), then fails.
    "setup-fails": ("swtpm_setup", """#!/bin/bash
echo partial > "$TMPDIR/partial-state"
echo "swtpm_setup: simulated failure: cannot write the TPM state" >&2
exit 1
"""),
    # swtpm_setup works (the swtpm it runs itself is the real one); the
    # demo's `swtpm socket --server ...` leaves a helper behind in its
    # process group and dies before it listens.
    "swtpm-dies": ("swtpm", """#!/bin/bash
case " $* " in
  *"bindaddr=127.0.0.1"*) ;;
  *) exec /usr/bin/swtpm "$@" ;;
esac
(exec -a "swtpm-straggler $*" sleep 300) &
echo "swtpm: simulated crash before listening" >&2
exit 1
"""),
}


def shim_env(tmp_path: Path, name: str, script: str) -> dict:
    """PATH with `name` replaced by `script`; TMPDIR under tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / name).write_text(script)
    (bin_dir / name).chmod(0o755)
    (tmp_path / "tmp").mkdir()
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", TMPDIR=str(tmp_path / "tmp"))


@pytest.mark.parametrize("shim", SHIMS)
def test_demo_failure_cleans_up(cli, tmp_path, shim):
    """A demo step fails after the demo made files and started processes:
    exit 1, a message with the failing tool's own words (its log is gone
    with the temp dir), nothing left behind."""
    name, script = SHIMS[shim]
    r = cli("demo", env=shim_env(tmp_path, name, script))
    assert r.returncode == 1, r.stdout + r.stderr
    if shim == "setup-fails":
        assert "tpmjoin demo: swtpm_setup failed (exit code 1); the end of its log:" in r.stderr
        assert "simulated failure: cannot write the TPM state" in r.stderr
    else:
        assert "tpmjoin demo: swtpm did not start (5 attempts); the end of its log:" in r.stderr
        assert "simulated crash before listening" in r.stderr
    assert list((tmp_path / "tmp").iterdir()) == []
    assert swtpm_processes_under(tmp_path / "tmp") == []


def stderr_file_popen(cli, tmp_path, *args, env):
    """The demo with its stderr in a file, readable while it runs."""
    err = (tmp_path / "stderr").open("w")
    proc = subprocess.Popen([str(cli.path), *args], env=env, stdout=subprocess.PIPE,
                            stderr=err, text=True)
    err.close()
    return proc


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def after_interrupted(stderr: str) -> str:
    """What the demo printed on stderr after its "interrupted" line."""
    assert "\ninterrupted: " in stderr, stderr
    return stderr.split("\ninterrupted: ", 1)[1].split("\n", 1)[1]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1],
                         ids=["INT", "TERM", "HUP", "USR1"])
@pytest.mark.parametrize("when", ["swtpm_setup", "tpm-command"])
def test_demo_interrupted_cleans_up(cli, tmp_path, sig, when):
    """Interrupted while swtpm_setup runs, or inside a TPM command (the RSA
    AK's CreatePrimary): swtpm stopped, files removed, exit 130, and
    nothing printed after "interrupted" (no ESAPI errors from the main
    thread losing its TPM)."""
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
    proc = stderr_file_popen(cli, tmp_path, "demo", env=env)
    if when == "swtpm_setup":
        started = wait_for(lambda: list((tmp_path / "tmp").glob("tpmjoin-demo-*/state/*")))
    else:
        started = wait_for(lambda: "Agent: EK + certificate, new AK" in
                           (tmp_path / "stderr").read_text())
    assert started, (tmp_path / "stderr").read_text()
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    err = (tmp_path / "stderr").read_text()
    assert proc.returncode == 130, err
    assert "interrupted: stopping swtpm and removing its files" in err
    assert after_interrupted(err) == ""
    assert "Join succeeded" not in out
    assert list((tmp_path / "tmp").iterdir()) == []
    time.sleep(0.2)
    assert swtpm_processes_under(tmp_path) == []


def test_demo_external_sigusr1_does_not_disable_ctrl_c(cli, tmp_path):
    """SIGUSR1 from outside used to end the guard thread silently, leaving
    the signals blocked: a later Ctrl-C was ignored and the demo ran on. Now
    the guard's own end is private, and SIGUSR1 is one more interrupt."""
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
    proc = stderr_file_popen(cli, tmp_path, "demo", env=env)
    assert wait_for(lambda: list((tmp_path / "tmp").glob("tpmjoin-demo-*/state/*")))
    proc.send_signal(signal.SIGUSR1)
    time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130, (tmp_path / "stderr").read_text()
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.fixture
def slow_begin(tpm, build_dir, tmp_path):
    """(args, env) for `tpmjoin demo --tcti` against `tpm` whose
    TPM2_CertifyCreation (in join_begin, the AK already loaded) stays busy
    for about 2 s; and log() -> the commands that reached the TPM."""
    log = tmp_path / "commands.log"
    env = dict(os.environ, TPMJOIN_FAULTS="CertifyCreation=922*45",
               TPMJOIN_FAULTS_LOG=str(log), TSS2_LOG="all+none")
    args = ["demo", "--tcti", f"{fault_tcti(build_dir)}:{tpm.tcti}"]
    return args, env, lambda: log.read_text().split() if log.exists() else []


def test_demo_tcti_interrupted_closes_the_session(cli, tpm, tmp_path, slow_begin):
    """--tcti: the TPM outlives the demo and may have no resource manager.
    Ctrl-C inside a TPM command lets it finish, then closes the session (the
    AK is flushed) and exits 130; it does not talk about a swtpm it never
    started."""
    args, env, commands = slow_begin
    proc = stderr_file_popen(cli, tmp_path, *args, env=env)
    assert wait_for(lambda: "0x14a" in commands()), (tmp_path / "stderr").read_text()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    err = (tmp_path / "stderr").read_text()
    assert proc.returncode == 130, err
    assert "interrupted: closing the TPM session after the current TPM command" in err
    assert "swtpm" not in err.split("\ninterrupted", 1)[1]
    assert after_interrupted(err) == ""
    assert "Join succeeded" not in out
    sent = commands()
    assert sent.count("0x14a") == 46  # CertifyCreation ran to its end,
    assert "0x165" in sent[sent.index("0x14a"):]  # then the AK was flushed
    assert "0x147" not in sent  # and no ActivateCredential was started
    tpm.assert_clean()


def test_demo_tcti_interrupted_twice_quits_at_once(cli, tpm, tmp_path, slow_begin):
    args, env, commands = slow_begin
    proc = stderr_file_popen(cli, tmp_path, *args, env=env)
    assert wait_for(lambda: "0x14a" in commands()), (tmp_path / "stderr").read_text()
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    err = (tmp_path / "stderr").read_text()
    assert proc.returncode == 130, err
    assert time.monotonic() - start < 1.5  # CertifyCreation's ~2 s not waited for
    assert "interrupted again: quitting without closing the TPM session" in err
    # As it said: the AK may still be loaded.
    assert len(tpm.handles("transient")) <= 1
    tpm.tool("tpm2_flushcontext", "-t")
