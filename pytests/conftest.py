"""pytest fixtures: throwaway swtpm instances (see tpmharness.py)."""

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = Path(os.environ.get("TPMJOIN_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(BUILD_DIR / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tpmharness  # noqa: E402


# Under `./dev test --asan/--tsan` the interpreter starts with the sanitizer
# runtime preloaded. The test processes need it, but tpm2-tools, swtpm and
# openssl must not inherit it (p11-kit deadlocks in its destructor under an
# ASan preload). The xdist controller keeps it for the workers it spawns; a
# process that runs tests drops it. Programs that link the instrumented
# library without being instrumented themselves get it back through
# tpmharness.linked_env().
def _drop_sanitizer_preload(config):
    spawns_workers = (config.getoption("numprocesses", default=None)
                      and "PYTEST_XDIST_WORKER" not in os.environ)
    if not spawns_workers:
        tpmharness.SANITIZER_PRELOAD = os.environ.pop("LD_PRELOAD", "")


def pytest_configure(config):
    _drop_sanitizer_preload(config)
    config.addinivalue_line("markers", "concurrency: tests that run joins on several threads")
    config.addinivalue_line("markers", "slow: long-running tests (soak)")


# The system-wide swtpm-localca state that swtpm_setup uses without a
# private config. Tests give every TPM a CA of its own and must never touch
# it. ($TPMJOIN_GUARDED_LOCALCA points the guard elsewhere, for the test
# that shows the guard fails.)
GUARDED_LOCALCA = Path(os.environ.get("TPMJOIN_GUARDED_LOCALCA", "/var/lib/swtpm-localca"))


def _tree_snapshot(root: Path):
    """Every entry under root with its type, size, mode and mtime; None when
    root does not exist. Unreadable directories count by their own stat."""
    def entry(path: Path):
        st = path.lstat()
        return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)

    if not os.path.lexists(root):
        return None
    snap = {".": entry(root)}
    for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: None):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            try:
                snap[str(path.relative_to(root))] = entry(path)
            except OSError:
                snap[str(path.relative_to(root))] = "vanished"
    return snap


@pytest.fixture(scope="session", autouse=True)
def localca_untouched():
    """Fails the session when anything under GUARDED_LOCALCA changed."""
    before = _tree_snapshot(GUARDED_LOCALCA)
    yield
    after = _tree_snapshot(GUARDED_LOCALCA)
    if before != after:
        b, a = before or {}, after or {}
        changed = sorted(k for k in set(b) | set(a) if b.get(k) != a.get(k))
        pytest.fail(f"the test session changed {GUARDED_LOCALCA}: {changed} "
                    f"({'created' if before is None else 'removed' if after is None else 'modified'})",
                    pytrace=False)


@pytest.fixture
def make_tpm(request):
    """Factory: make_tpm(Variant(...)) -> a running, provisioned Swtpm.

    At teardown every TPM still running must hold no transient object and
    no loaded session (the library must flush everything it loads); then
    swtpm is stopped and its directory removed, also when the test failed
    and also when checking one TPM's handles raised: every TPM is destroyed
    before any error is reported.
    """
    tpms = []

    def make(variant=None):
        tpm = tpmharness.Swtpm(variant)
        tpms.append(tpm)
        return tpm

    yield make
    leftovers, errors = [], []
    for tpm in tpms:
        try:
            if tpm.proc is not None and tpm.proc.poll() is None:
                transient = tpm.handles("transient")
                sessions = tpm.handles("loaded-session")
                if transient or sessions:
                    leftovers.append((tpm.port, transient, sessions))
        except Exception as e:  # noqa: BLE001 (raised below, after the clean-up)
            errors.append(e)
        finally:
            try:
                tpm.destroy()
            except Exception as e:  # noqa: BLE001
                errors.append(e)
    if errors:
        raise RuntimeError(f"checking or destroying {len(errors)} of {len(tpms)} test TPMs "
                           f"failed: {errors!r}") from errors[0]
    assert not leftovers, f"TPM handles left behind: {leftovers}"


@pytest.fixture
def tpm(make_tpm):
    """A TPM with persistent RSA and ECC P-384 EKs and their certificates."""
    return make_tpm()


@pytest.fixture
def faulty(tpm, monkeypatch, tmp_path):
    """config(faults, **extra) -> a config for `tpm` whose TCTI is wrapped by
    tests/fault_tcti, injecting `faults` ($TPMJOIN_FAULTS syntax, see
    fault_tcti.c); commands() -> the command codes that reached the wrapper;
    log() -> every line it logged (also "corrupted <cc> rc=<rc>")."""
    log = tmp_path / "fault-tcti.log"
    monkeypatch.setenv("TPMJOIN_FAULTS_LOG", str(log))

    def config(faults: str, **extra) -> str:
        monkeypatch.setenv("TPMJOIN_FAULTS", faults)
        cfg = json.loads(tpm.config(**extra))
        cfg["tcti"] = f"{BUILD_DIR / 'tests' / 'libtpmjoin-fault-tcti.so'}:{cfg['tcti']}"
        return json.dumps(cfg)

    def lines() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    config.log = lines
    config.commands = lambda: [int(x, 16) for x in lines() if x.startswith("0x")]
    return config


@pytest.fixture
def build_dir():
    return BUILD_DIR


@pytest.fixture
def libpath():
    return BUILD_DIR / "libtpmjoin.so.1"
