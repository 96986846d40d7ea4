"""Throwaway swtpm instances and an independent credential maker for tests.

Every Swtpm gets its own state dir, its own free TCP port pair and its own
two-level CA (swtpm_setup with a private swtpm-localca config), so tests run
in parallel and never touch /var/lib/swtpm-localca.
"""

from __future__ import annotations

import ctypes
import datetime
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ObjectIdentifier

import tpmjoin_pb2 as pb

PR_SET_PDEATHSIG = 1

# The sanitizer runtime the interpreter was started with (set by conftest).
SANITIZER_PRELOAD = ""


def linked_env(env: dict | None = None) -> dict:
    """The environment for an uninstrumented program that links libtpmjoin:
    under a sanitizer build it needs the runtime preloaded, as we do."""
    env = dict(os.environ if env is None else env)
    if SANITIZER_PRELOAD:
        env["LD_PRELOAD"] = SANITIZER_PRELOAD
    return env


def _die_with_parent():
    # swtpm must not outlive a crashed test run.
    ctypes.CDLL("libc.so.6").prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# Response codes by which the TPM asks for the same command again, which
# ESAPI then resends: TPM_RC_RETRY (swtpm sometimes answers an ECC
# ActivateCredential so), TPM_RC_YIELDED, TPM_RC_TESTING.
RESENT = ("(0x00000922)", "(0x00000908)", "(0x0000090a)")


def commands_in(pcap: Path) -> list[str]:
    """The TPM commands in a capture, in order; a command the TPM asked to be
    resent counts once."""
    out = subprocess.run(["tshark", "-r", str(pcap), "-V"], capture_output=True, text=True,
                         check=True).stdout
    commands = []
    for line in out.splitlines():
        if "Command Code:" in line:
            commands.append(line.split("Command Code: ")[1].split(" ")[0].replace("TPM2_CC_", ""))
        elif "Response rc:" in line and line.rstrip().endswith(RESENT):
            commands.pop()
    return commands


def swtpm_processes_under(directory: Path) -> list[str]:
    """Running swtpm (or swtpm_setup) processes whose command line names
    `directory`."""
    out = subprocess.run(["pgrep", "-af", "swtpm"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(directory) in line]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair() -> int:
    """A port P with P+1 free too: the swtpm TCTI finds the control channel
    at P+1."""
    for _ in range(100):
        port = random.randrange(20000, 60000, 2)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def run(cmd, *, env=None, check=True, input=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, check=check, input=input, capture_output=True)


@dataclass
class Variant:
    """How a test TPM is provisioned."""

    ek_certs: bool = True  # RSA (L-1) and ECC P-384 (H-3) EK certificates in NV
    create_eks: bool = True  # persistent EKs at 0x81010001 / 0x81010016
    evict_eks: bool = False  # certificates in NV, but no persistent EK
    ecc_p256_cert: bool = False  # also an L-2 (P-256) EK at 0x81010002 + cert at 0x01C0000A
    endorsement_auth: str | None = None
    owner_auth: str | None = None


class Swtpm:
    def __init__(self, variant: Variant | None = None, *, parent: Path | None = None):
        self.variant = variant or Variant()
        self.dir = Path(tempfile.mkdtemp(prefix="tpmjoin-swtpm-", dir=parent))
        self.state = self.dir / "state"
        self.ca = self.dir / "ca"
        self.state.mkdir()
        self.ca.mkdir()
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.ctrl_port = 0
        try:
            self._manufacture()
            self.start()
            self._provision()
        except BaseException:
            self.destroy()
            raise

    # -- lifecycle ---------------------------------------------------------

    def _manufacture(self):
        (self.ca / "localca.conf").write_text(
            f"statedir = {self.ca}\n"
            f"signingkey = {self.ca}/signkey.pem\n"
            f"issuercert = {self.ca}/issuercert.pem\n"
            f"certserial = {self.ca}/certserial\n"
        )
        (self.ca / "localca.options").write_text("")
        (self.dir / "swtpm_setup.conf").write_text(
            "create_certs_tool = /usr/bin/swtpm_localca\n"
            f"create_certs_tool_config = {self.ca}/localca.conf\n"
            f"create_certs_tool_options = {self.ca}/localca.options\n"
            "active_pcr_banks = sha256\n"
        )
        cmd = ["swtpm_setup", "--tpm2", "--tpmstate", str(self.state),
               "--config", str(self.dir / "swtpm_setup.conf")]
        if self.variant.ek_certs:
            cmd += ["--create-ek-cert", "--lock-nvram"]
        elif self.variant.create_eks:
            cmd += ["--createek"]
        run(cmd)

    def start(self):
        # Another test may grab the ports between our check and swtpm's bind:
        # then try another pair.
        for attempt in range(5):
            try:
                return self._start_once()
            except RuntimeError:
                if attempt == 4:
                    raise

    def _start_once(self):
        assert self.proc is None
        self.port = free_port_pair()
        self.ctrl_port = self.port + 1
        self.proc = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.state}",
             "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={self.ctrl_port},bindaddr=127.0.0.1",
             "--flags", "not-need-init,startup-clear"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
        # Ready when both the control and the command port accept (swtpm
        # opens them one after the other).
        deadline = time.monotonic() + 10
        while True:
            try:
                for port in (self.ctrl_port, self.port):
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        pass
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"swtpm did not start on port {self.port}")
                time.sleep(0.02)

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def kill(self):
        """Simulates a TPM that disappears: SIGKILL, no clean shutdown."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def destroy(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- provisioning ------------------------------------------------------

    def _provision(self):
        v = self.variant
        if v.ecc_p256_cert:
            self._provision_ecc_p256()
        if v.evict_eks:
            for handle in ("0x81010001", "0x81010016", "0x81010002"):
                self.tool("tpm2_evictcontrol", "-C", "o", "-c", handle, check=False)
        if v.endorsement_auth is not None:
            self.tool("tpm2_changeauth", "-c", "e", v.endorsement_auth)
        if v.owner_auth is not None:
            self.tool("tpm2_changeauth", "-c", "o", v.owner_auth)

    def _provision_ecc_p256(self):
        """An L-2 EK (P-256) persisted at 0x81010002 with a certificate from
        this TPM's CA at NV 0x01C0000A, as many real TPMs ship."""
        pub = self.dir / "ek256.pem"
        self.tool("tpm2_createek", "-c", "0x81010002", "-G", "ecc", "-f", "pem", "-u", str(pub))
        ek_key = serialization.load_pem_public_key(pub.read_bytes())
        der = self.issue_ek_cert(ek_key, serial=0x256256)
        path = self.dir / "ek256.der"
        path.write_bytes(der)
        self.tool("tpm2_nvdefine", "0x01C0000A", "-C", "o", "-s", str(len(der)),
                  "-a", "ownerread|authread|ownerwrite|no_da")
        self.tool("tpm2_nvwrite", "0x01C0000A", "-C", "o", "-i", str(path))

    def issue_ek_cert(self, ek_public_key, *, serial: int, not_after=None,
                      extra_extensions=()) -> bytes:
        """An EK certificate for `ek_public_key` from this TPM's issuing CA,
        shaped like a TPM maker's (empty subject, critical TCG SAN, EKU), plus
        any `extra_extensions` (non-critical x509 extension values)."""
        if not (self.ca / "issuercert.pem").exists():
            self._make_ca()  # swtpm_setup made none (no --create-ek-cert)
        issuer = x509.load_pem_x509_certificate((self.ca / "issuercert.pem").read_bytes())
        key = serialization.load_pem_private_key((self.ca / "signkey.pem").read_bytes(), None)
        san = x509.DirectoryName(x509.Name([
            x509.NameAttribute(ObjectIdentifier("2.23.133.2.1"), "id:00001014"),
            x509.NameAttribute(ObjectIdentifier("2.23.133.2.2"), "swtpm"),
            x509.NameAttribute(ObjectIdentifier("2.23.133.2.3"), "id:20191023"),
        ]))
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(issuer.subject)
            .public_key(ek_public_key)
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(not_after or now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ObjectIdentifier("2.23.133.8.1")]), critical=False)
            .add_extension(x509.KeyUsage(False, False, True, False, False, False, False, False, False),
                           critical=True)
        )
        for ext in extra_extensions:
            builder = builder.add_extension(ext, critical=False)
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def _make_ca(self):
        """A two-level CA in the files swtpm-localca would write (root
        certificate, issuing certificate and its key)."""
        now = datetime.datetime.now(datetime.timezone.utc)

        def cert(subject, issuer, public_key, signing_key):
            return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                    .public_key(public_key).serial_number(x509.random_serial_number())
                    .not_valid_before(now - datetime.timedelta(days=1))
                    .not_valid_after(now + datetime.timedelta(days=3650))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                    .sign(signing_key, hashes.SHA256()))

        root_key = ec.generate_private_key(ec.SECP256R1())
        issuer_key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "test root CA")])
        issuer_name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME,
                                                    "test issuing CA")])
        root = cert(root_name, root_name, root_key.public_key(), root_key)
        issuer = cert(issuer_name, root_name, issuer_key.public_key(), root_key)
        pem = serialization.Encoding.PEM
        (self.ca / "swtpm-localca-rootca-cert.pem").write_bytes(root.public_bytes(pem))
        (self.ca / "issuercert.pem").write_bytes(issuer.public_bytes(pem))
        (self.ca / "signkey.pem").write_bytes(issuer_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    # -- access ------------------------------------------------------------

    @property
    def tcti(self) -> str:
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def config(self, **extra) -> str:
        cfg = {"tcti": self.tcti}
        if self.variant.endorsement_auth is not None:
            cfg["endorsement_auth"] = self.variant.endorsement_auth
        if self.variant.owner_auth is not None:
            cfg["owner_auth"] = self.variant.owner_auth
        cfg.update(extra)
        return json.dumps(cfg)

    def tool(self, *cmd, check=True) -> str:
        env = dict(os.environ, TPM2TOOLS_TCTI=self.tcti, TSS2_LOG="all+none")
        proc = run(list(cmd), env=env, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.decode()}")
        return proc.stdout.decode()

    def write_nv(self, index: str, data: bytes, *, size: int | None = None,
                 attributes: str = "ownerread|ownerwrite|policywrite|no_da"):
        """Defines NV `index` (owner hierarchy, `size` bytes, default
        len(data)) and writes `data` at its start."""
        path = self.dir / f"nv-{index}.bin"
        path.write_bytes(data)
        self.tool("tpm2_nvdefine", index, "-C", "o", "-s", str(size or len(data)),
                  "-a", attributes)
        self.tool("tpm2_nvwrite", index, "-C", "o", "-i", str(path))

    def handles(self, kind: str) -> list[str]:
        """tpm2_getcap handles-transient / handles-loaded-session / ..."""
        out = self.tool("tpm2_getcap", f"handles-{kind}")
        return [line.strip("- ").strip() for line in out.splitlines() if line.strip()]

    def assert_clean(self):
        assert self.handles("transient") == []
        assert self.handles("loaded-session") == []

    @property
    def root_ca_pem(self) -> str:
        return (self.ca / "swtpm-localca-rootca-cert.pem").read_text()

    @property
    def issuer_ca_pem(self) -> str:
        return (self.ca / "issuercert.pem").read_text()


# -- an independent credential maker -----------------------------------------

# nameAlg / symmetric key bits the TCG EK profile fixes per EK key type.
def ek_profile(key) -> tuple[str, int]:
    if isinstance(key, rsa.RSAPublicKey):
        return ("sha256", 128) if key.key_size == 2048 else ("sha384", 256)
    curve = key.curve.name
    return {"secp256r1": ("sha256", 128), "secp384r1": ("sha384", 256),
            "secp521r1": ("sha512", 256)}[curve]


def init_ek_key(init: pb.RegisterUsingTPMMethodInitialRequest):
    if init.HasField("ek_cert"):
        return x509.load_der_x509_certificate(init.ek_cert).public_key()
    return serialization.load_der_public_key(init.ek_key)


def ak_name(public: bytes) -> bytes:
    from tpm2_pytss.types import TPMT_PUBLIC
    pub, _ = TPMT_PUBLIC.unmarshal(public)
    return bytes(pub.get_name())


def ek_tpm2b_public(key) -> bytes:
    """The EK as a TPM2B_PUBLIC, with the profile's nameAlg and symmetric."""
    from tpm2_pytss.constants import TPM2_ALG, TPMA_OBJECT
    from tpm2_pytss.types import TPM2B_PUBLIC, TPMT_PUBLIC, TPMT_SYM_DEF_OBJECT
    name_alg, sym_bits = ek_profile(key)
    pem = key.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    symmetric = TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.AES)
    symmetric.keyBits.aes = sym_bits
    symmetric.mode.aes = TPM2_ALG.CFB
    pub = TPMT_PUBLIC.from_pem(
        pem, nameAlg=getattr(TPM2_ALG, name_alg.upper()), symmetric=symmetric,
        objectAttributes=(TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.DECRYPT | TPMA_OBJECT.FIXEDTPM
                          | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN
                          | TPMA_OBJECT.ADMINWITHPOLICY))
    if isinstance(key, ec.EllipticCurvePublicKey):
        # tpm2-pytss' from_pem drops leading zero bytes of x and y; a TPM's
        # coordinates are field-sized, and KDFe's PartyVInfo is that x: with
        # a 31-byte x (1 EK in 256) tpm2_makecredential makes a credential
        # the TPM rejects (TPM_RC_INTEGRITY).
        size = (key.curve.key_size + 7) // 8
        nums = key.public_numbers()
        pub.unique.ecc.x = nums.x.to_bytes(size, "big")
        pub.unique.ecc.y = nums.y.to_bytes(size, "big")
    return TPM2B_PUBLIC(publicArea=pub).marshal()


def make_challenge_tools(init_request: bytes, secret: bytes, workdir: Path,
                         name: bytes | None = None) -> bytes:
    """A RegisterUsingTPMMethodResponse made by `tpm2_makecredential -T none`
    (tpm2-tools' own MakeCredential) for the EK and AK of `init_request`."""
    req = pb.RegisterUsingTPMMethodRequest.FromString(init_request)
    key = init_ek_key(req.init)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "ek.pub").write_bytes(ek_tpm2b_public(key))
    (workdir / "secret.bin").write_bytes(secret)
    name = name if name is not None else ak_name(req.init.attestation_params.public)
    run(["tpm2_makecredential", "-T", "none", "-u", str(workdir / "ek.pub"),
         "-s", str(workdir / "secret.bin"), "-n", name.hex(), "-o", str(workdir / "cred.out")])
    data = (workdir / "cred.out").read_bytes()[8:]  # magic + version
    blob_len = int.from_bytes(data[:2], "big")
    resp = pb.RegisterUsingTPMMethodResponse()
    resp.challenge_request.credential_blob = data[:2 + blob_len]
    resp.challenge_request.secret = data[2 + blob_len:]
    return resp.SerializeToString()


def make_challenge_pytss(init_request: bytes, secret: bytes) -> bytes:
    """The same with tpm2-pytss' make_credential (RSA-2048 and P-256 EKs:
    tpm2-pytss 1.2 cannot do AES-256)."""
    from tpm2_pytss.types import TPM2B_DIGEST, TPM2B_PUBLIC
    from tpm2_pytss.utils import make_credential
    req = pb.RegisterUsingTPMMethodRequest.FromString(init_request)
    ek_pub, _ = TPM2B_PUBLIC.unmarshal(ek_tpm2b_public(init_ek_key(req.init)))
    blob, enc = make_credential(ek_pub, TPM2B_DIGEST(secret),
                                ak_name(req.init.attestation_params.public))
    resp = pb.RegisterUsingTPMMethodResponse()
    resp.challenge_request.credential_blob = blob.marshal()
    resp.challenge_request.secret = enc.marshal()
    return resp.SerializeToString()


def solution_of(answer: bytes) -> bytes:
    msg = pb.RegisterUsingTPMMethodRequest.FromString(answer)
    assert msg.WhichOneof("payload") == "challenge_response"
    return msg.challenge_response.solution


def pkix_hash(key) -> str:
    import hashlib
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def ec_or_rsa(key) -> str:
    return "ecc" if isinstance(key, ec.EllipticCurvePublicKey) else "rsa"
