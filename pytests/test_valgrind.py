"""One whole join (README's C agent loop: session, begin, verifier
challenge, respond, finish) under valgrind memcheck: no invalid access, no
use of uninitialised memory, nothing definitely lost."""

import json
import subprocess

import _tpmjoin as tj
from test_readme import compile_example


def test_one_join_is_memcheck_clean(tpm, tmp_path, build_dir):
    exe = compile_example(tmp_path, build_dir)
    ek_hash = json.loads(tj.identify(tpm.config()))["ek_pub_hash"]
    policy = json.dumps({"allow": [{"ek_public_hash": ek_hash}],
                         "ekcert_allowed_cas": [tpm.issuer_ca_pem]})
    log = tmp_path / "memcheck.log"
    r = subprocess.run(
        ["valgrind", "--tool=memcheck", "--error-exitcode=99", "--leak-check=full",
         "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
         "--track-origins=yes", f"--log-file={log}", str(exe), tpm.config(), policy],
        capture_output=True, text=True, timeout=600)
    report = log.read_text()
    assert r.returncode == 0, report[-4000:]
    assert "joined: " in r.stdout
    assert "ERROR SUMMARY: 0 errors" in report
    assert "definitely lost: 0 bytes" in report or "All heap blocks were freed" in report
