"""The harness itself: swtpm processes and temp dirs are cleaned up whatever
a test does, and the system-wide swtpm-localca is guarded. Each case runs
pytest in a subprocess on tests that fail on purpose."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tpmharness import swtpm_processes_under

HERE = Path(__file__).resolve().parent

# Inner tests. Each records the pid and directory of every TPM it made; the
# last one reports, while the inner pytest (the parent that swtpm's
# PDEATHSIG is tied to) is still alive, which of them survived.
INNER_TESTS = textwrap.dedent('''
    import json
    import os
    from pathlib import Path

    from tpmharness import Variant, free_port

    RECORD = Path(os.environ["HARNESS_RECORD"])
    QUICK = Variant(ek_certs=False, create_eks=False)


    def made(make_tpm, n):
        tpms = [make_tpm(QUICK) for _ in range(n)]
        with RECORD.open("a") as f:
            for t in tpms:
                f.write(json.dumps({"pid": t.proc.pid, "dir": str(t.dir)}) + "\\n")
        return tpms


    def test_fails_on_purpose(make_tpm):
        made(make_tpm, 2)
        assert False, "deliberate failure"


    def test_teardown_handle_check_raises(make_tpm):
        first, _, _ = made(make_tpm, 3)
        first.port = free_port()  # tpm2_getcap cannot reach it: handles() raises


    def test_teardown_finds_leftover_handles(make_tpm):
        first, _ = made(make_tpm, 2)
        first.tool("tpm2_createprimary", "-Q", "-C", "o", "-c", str(first.dir / "p.ctx"))


    def test_zz_report_survivors():
        def alive(pid):
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                return False
            return state != "Z"
        survivors = []
        for line in RECORD.read_text().splitlines():
            tpm = json.loads(line)
            if alive(tpm["pid"]):
                survivors.append(f"swtpm pid {tpm['pid']}")
            if os.path.lexists(tpm["dir"]):
                survivors.append(tpm["dir"])
        Path(os.environ["HARNESS_SURVIVORS"]).write_text(json.dumps(survivors))
''')

LOCALCA_TESTS = textwrap.dedent('''
    import os
    from pathlib import Path


    def test_reads_only():
        list(Path(os.environ["TPMJOIN_GUARDED_LOCALCA"]).iterdir())


    def test_writes_when_asked():
        if os.environ.get("HARNESS_TOUCH"):
            (Path(os.environ["TPMJOIN_GUARDED_LOCALCA"]) / "certserial").write_text("2\\n")
''')


def run_inner(tmp_path: Path, tests: str, **env) -> subprocess.CompletedProcess:
    """pytest on `tests` with our conftest as a plugin, one process, its
    temp files under tmp_path/tmp."""
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "test_inner.py").write_text(tests)
    (tmp_path / "inner" / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "tmp").mkdir()
    full_env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"),
                    PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-p", "conftest", "--rootdir", str(tmp_path / "inner"),
         "-c", str(tmp_path / "inner" / "pytest.ini"), str(tmp_path / "inner")],
        env=full_env, capture_output=True, text=True, timeout=300)


def test_failing_tests_and_failing_teardowns_leave_nothing(tmp_path):
    record, survivors = tmp_path / "record", tmp_path / "survivors.json"
    r = run_inner(tmp_path, INNER_TESTS, HARNESS_RECORD=str(record),
                  HARNESS_SURVIVORS=str(survivors))
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "1 failed, 3 passed, 2 errors" in out, out
    assert "deliberate failure" in out
    assert "checking or destroying 1 of 3 test TPMs failed" in out
    assert "TPM handles left behind" in out
    assert len(record.read_text().splitlines()) == 7
    # While the inner pytest still ran: every swtpm stopped, every dir gone.
    assert json.loads(survivors.read_text()) == []
    # And after it: no swtpm of it, no temp dir of it.
    assert swtpm_processes_under(tmp_path) == []
    assert [p.name for p in (tmp_path / "tmp").glob("tpmjoin-swtpm-*")] == []


def test_localca_guard_fails_the_session_on_a_change(tmp_path):
    fake = tmp_path / "localca"
    fake.mkdir()
    (fake / "certserial").write_text("1\n")
    r = run_inner(tmp_path, LOCALCA_TESTS, TPMJOIN_GUARDED_LOCALCA=str(fake))
    assert r.returncode == 0, r.stdout + r.stderr

    import shutil
    shutil.rmtree(tmp_path / "inner")
    shutil.rmtree(tmp_path / "tmp")
    r = run_inner(tmp_path, LOCALCA_TESTS, TPMJOIN_GUARDED_LOCALCA=str(fake), HARNESS_TOUCH="1")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert f"the test session changed {fake}" in out, out
    assert "'certserial'" in out and "(modified)" in out


@pytest.mark.parametrize("curve", ["secp256r1", "secp384r1"])
def test_ek_public_for_the_tools_keeps_field_sized_coordinates(curve):
    """One ECC EK in 256 has an x (or y) below 2^(n-8): the TPM2B_PUBLIC
    handed to tpm2_makecredential must still carry it at field size, as the
    TPM does (KDFe hashes x), or the credential fails TPM_RC_INTEGRITY."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from tpm2_pytss.types import TPM2B_PUBLIC
    from tpmharness import ek_tpm2b_public
    ec_curve = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1()}[curve]
    size = (ec_curve.key_size + 7) // 8
    for coordinate in ("x", "y"):
        while True:  # about 256 tries
            key = ec.generate_private_key(ec_curve).public_key()
            if getattr(key.public_numbers(), coordinate) < 1 << (8 * size - 8):
                break
        pub, _ = TPM2B_PUBLIC.unmarshal(ek_tpm2b_public(key))
        point = pub.publicArea.unique.ecc
        assert (len(bytes(point.x)), len(bytes(point.y))) == (size, size)
        assert int.from_bytes(bytes(point.x), "big") == key.public_numbers().x
        assert int.from_bytes(bytes(point.y), "big") == key.public_numbers().y
