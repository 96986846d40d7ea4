"""pytest fixtures: throwaway swtpm instances (see tpmharness.py)."""

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


@pytest.fixture
def make_tpm(request):
    """Factory: make_tpm(Variant(...)) -> a running, provisioned Swtpm.

    At teardown every TPM still running must hold no transient object and
    no loaded session (the library must flush everything it loads); then
    swtpm is stopped and its directory removed, also when the test failed.
    """
    tpms = []

    def make(variant=None):
        tpm = tpmharness.Swtpm(variant)
        tpms.append(tpm)
        return tpm

    yield make
    leftovers = []
    for tpm in tpms:
        try:
            if tpm.proc is not None and tpm.proc.poll() is None:
                transient = tpm.handles("transient")
                sessions = tpm.handles("loaded-session")
                if transient or sessions:
                    leftovers.append((tpm.port, transient, sessions))
        finally:
            tpm.destroy()
    assert not leftovers, f"TPM handles left behind: {leftovers}"


@pytest.fixture
def tpm(make_tpm):
    """A TPM with persistent RSA and ECC P-384 EKs and their certificates."""
    return make_tpm()


@pytest.fixture
def build_dir():
    return BUILD_DIR


@pytest.fixture
def libpath():
    return BUILD_DIR / "libtpmjoin.so.1"
