"""Secrets never leave the library in a message: not the activation secret
(the verifier's challenge, the agent's recovered solution), not hierarchy
passwords. Checked in tpmjoin_last_error after failures at every step, in
the verifier's result and on the process's stdout and stderr."""

import base64
import json
import os
import subprocess
import time

import pytest

import _tpmjoin as tj
import tpmjoin_pb2 as pb
from test_e2e import allow_tpm, expect, flip
from tpmharness import Variant, make_challenge_pytss, make_challenge_tools, solution_of


def spellings(secret: bytes) -> list[str]:
    """The ways a secret could end up in text."""
    return [secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode(),
            base64.urlsafe_b64encode(secret).decode().rstrip("=")]


def assert_absent(secret: bytes, *texts: str):
    for text in texts:
        for form in spellings(secret):
            assert form not in text, "a secret appeared in a message"


def test_verifier_never_reveals_the_expected_or_offered_solution(tpm, capfd):
    v = tj.Verifier(allow_tpm(tpm))
    with tj.Session(tpm.config()) as s:
        init = s.begin(b"")
        challenge, response = v.challenge(init)
        answer = s.respond(response)
    right = solution_of(answer)
    assert len(right) == 32
    # Wrong by one bit, wrong length, empty: DENIED, and the message names
    # neither the expected nor the offered solution.
    messages = []
    for wrong in (flip(right, 31), right[:31], right + b"\x00", b""):
        fresh, _ = v.challenge(init)
        msg = pb.RegisterUsingTPMMethodRequest()
        msg.challenge_response.solution = wrong
        offered = msg.SerializeToString()
        messages.append(expect(tj.ERR_DENIED, fresh.finish, offered))
        assert_absent(wrong or b"\x00" * 32, messages[-1])
    result = challenge.finish(answer)
    assert json.loads(result)["ek_cert_verified"] is True
    out, err = capfd.readouterr()
    assert_absent(right, result, out, err, *messages)


@pytest.mark.parametrize("parameter_encryption", [True, False], ids=["encrypted", "clear"])
def test_agent_never_reveals_a_secret_the_tpm_released_before_failing(
        faulty, tpm, tmp_path, capfd, parameter_encryption):
    """The TPM runs ActivateCredential and releases the secret; then the
    fault TCTI flips a bit of its answer, so the library holds the answer
    and must reject it. (With parameter_encryption false the secret crosses
    the wire in clear.) Neither last_error nor anything printed (ESAPI logs
    to stderr) may carry it."""
    secret = os.urandom(32)
    with tj.Session(faulty("ActivateCredential=corrupt",
                           parameter_encryption=parameter_encryption)) as s:
        init = s.begin(b"")
        text = expect(tj.ERR_TPM_UNAVAILABLE, s.respond,
                      make_challenge_tools(init, secret, tmp_path / "c"))
        # ESAPI refuses every later command on a context whose response
        # check failed; the session says so, and still flushed its AK.
        later = expect(tj.ERR_TPM_UNAVAILABLE, s.begin, b"")
        assert tpm.handles("transient") == []
    # The TPM did release it: its answer was a success before the flip.
    assert "corrupted 0x147 rc=0x0" in faulty.log()
    # The EK's session authenticates the response (an HMAC over it), which
    # the flipped bit breaks, with and without encryption.
    assert "TPM2_ActivateCredential: the TPM's response failed its integrity check" in text
    assert "close the session and open a new one" in text
    assert "earlier in this session" in later
    out, err = capfd.readouterr()
    assert_absent(secret, text, later, out, err)


def test_agent_never_reveals_a_recovered_secret_when_the_tpm_vanishes_after(
        faulty, tmp_path, capfd):
    """The secret is recovered and returned; the AK's flush right after it
    loses the TPM. The failures that follow carry no trace of the secret."""
    secret = os.urandom(32)
    with tj.Session(faulty("FlushContext=disconnect@ActivateCredential")) as s:
        init = s.begin(b"")
        answer = s.respond(make_challenge_tools(init, secret, tmp_path / "c"))
        assert solution_of(answer) == secret
        # The flush right after lost the TPM: the session says so.
        text = expect(tj.ERR_TPM_UNAVAILABLE, s.begin, b"")
    assert text.startswith("tpmjoin_join_begin: ")
    assert "lost" in text
    out, err = capfd.readouterr()
    assert_absent(secret, text, out, err)


def test_passwords_never_appear_anywhere(make_tpm, tmp_path, capfd):
    tpm = make_tpm(Variant(endorsement_auth="endorse-7Qx", owner_auth="owner-9Kz"))
    secrets = ["endorse-7Qx", "owner-9Kz", "guess-endorse-3Lm", "guess-owner-5Pw"]
    texts = []
    for config in (dict(owner_auth="guess-owner-5Pw"),
                   dict(endorsement_auth="guess-endorse-3Lm"),
                   dict(owner_auth="owner-9Kz", endorsement_auth="endorse-7Qx",
                        bogus_key=1)):
        try:
            with tj.Session(tpm.config(**config)) as s:
                init = s.begin(b"")
                s.respond(make_challenge_tools(init, os.urandom(32), tmp_path / "c"))
        except tj.Error as e:
            texts.append(e.args[1])
    assert len(texts) == 3, "every one of those configurations fails"
    # A join with the right passwords works, and its output carries none.
    v = tj.Verifier(allow_tpm(tpm))
    with tj.Session(tpm.config()) as s:
        challenge, response = v.challenge(s.begin(b""))
        texts.append(challenge.finish(s.respond(response)))
    out, err = capfd.readouterr()
    for text in (*texts, out, err):
        for secret in secrets:
            assert secret not in text


@pytest.mark.parametrize("key", ["owner_auth", "endorsement_auth"])
def test_identify_errors_carry_no_password(tpm, key):
    config = tpm.config(**{key: "x" * 65})
    text = expect(tj.ERR_INVALID_ARGUMENT, tj.identify, config)
    assert key in text
    assert "x" * 65 not in text


@pytest.mark.parametrize("encryption", [True, False], ids=["encrypted", "clear"])
def test_no_copy_of_the_secret_or_password_stays_in_memory(make_tpm, tmp_path, build_dir,
                                                           encryption):
    """tests/secret_scan: a C agent joins, then searches its own writable
    memory. The recovered secret is gone once the caller freed its answer
    (tpm2-tss' SAPI buffer, where ESAPI decrypts and unmarshals the
    response, is wiped too); the endorsement password is gone once the
    session is closed (while open, the session keeps it for renewals)."""
    password = "E-" + os.urandom(8).hex()
    tpm = make_tpm(Variant(endorsement_auth=password))
    secret = os.urandom(32)
    masked = lambda data: bytes(b ^ 0x5A for b in data).hex()  # noqa: E731
    config = tpm.config(parameter_encryption=encryption)
    scan = subprocess.Popen(
        [str(build_dir / "tests" / "tpmjoin-secret-scan"), masked(config.encode()),
         masked(secret), masked(password.encode()), str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        init = tmp_path / "init.bin"
        deadline = time.monotonic() + 60
        while not init.exists() and scan.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert init.exists(), scan.communicate()[1]
        challenge = make_challenge_pytss(init.read_bytes(), secret)
        (tmp_path / "challenge.tmp").write_bytes(challenge)
        os.rename(tmp_path / "challenge.tmp", tmp_path / "challenge.bin")
        out, err = scan.communicate(timeout=60)
    finally:
        if scan.poll() is None:
            scan.kill()
    assert scan.returncode == 0, err
    hits = {tuple(line.split()[:2]): int(line.split()[2]) for line in out.splitlines()}
    assert hits == {("after_respond", "secret"): 0, ("after_close", "secret"): 0,
                    ("after_close", "password"): 0}, out
    tpm.assert_clean()
