"""README's C example compiles against the public headers and joins."""

import json
import re
import subprocess
from pathlib import Path

import _tpmjoin as tj
from tpmharness import linked_env

ROOT = Path(__file__).resolve().parent.parent


def readme_c_example() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```c\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    return blocks[0]


def compile_example(tmp_path: Path, build_dir: Path) -> Path:
    src = tmp_path / "example.c"
    src.write_text(readme_c_example())
    exe = tmp_path / "example"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", str(src),
                    f"-I{ROOT / 'abi'}", f"-L{build_dir}", "-ltpmjoin",
                    f"-Wl,-rpath,{build_dir}", "-o", str(exe)], check=True)
    return exe


def test_readme_example_joins(tpm, tmp_path, build_dir):
    exe = compile_example(tmp_path, build_dir)
    ek_hash = json.loads(tj.identify(tpm.config()))["ek_pub_hash"]
    policy = json.dumps({"allow": [{"description": "readme", "ek_public_hash": ek_hash}],
                         "ekcert_allowed_cas": [tpm.issuer_ca_pem]})
    r = subprocess.run([str(exe), tpm.config(), policy], capture_output=True, text=True,
                       env=linked_env())
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.split("joined: ", 1)[1])
    assert result["ek_pub_hash"] == ek_hash
    assert result["ek_cert_verified"] is True


def test_readme_example_reports_denial(tpm, tmp_path, build_dir):
    exe = compile_example(tmp_path, build_dir)
    policy = json.dumps({"allow": [{"ek_public_hash": "00" * 32}]})
    r = subprocess.run([str(exe), tpm.config(), policy], capture_output=True, text=True,
                       env=linked_env())
    assert r.returncode == 1
    assert r.stderr.startswith("join failed: tpmjoin_verifier_challenge: ")
