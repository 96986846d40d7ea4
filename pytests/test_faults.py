"""TPM faults injected by a wrapping TCTI (tests/fault_tcti, the `faulty`
fixture in conftest.py): RETRY, YIELDED and TESTING are retried with bounded
backoff; lockout and authorization failures say what to do; a disconnect
mid-command is TPM_UNAVAILABLE."""

import os
import time

import pytest

import _tpmjoin as tj
from tpmharness import make_challenge_tools

RETRY, YIELDED, TESTING = 0x922, 0x908, 0x90A
LOCKOUT, AUTH_FAIL_SESSION_1 = 0x921, 0x98E


def join(config: str, tmp_path) -> None:
    with tj.Session(config) as s:
        init = s.begin(b"")
        s.respond(make_challenge_tools(init, os.urandom(32), tmp_path / os.urandom(4).hex()))


@pytest.mark.parametrize("rc", [RETRY, YIELDED, TESTING], ids=["RETRY", "YIELDED", "TESTING"])
@pytest.mark.parametrize("command,cc", [("CreatePrimary", 0x131), ("NV_Read", 0x14E),
                                        ("StartAuthSession", 0x176),
                                        ("ActivateCredential", 0x147)])
def test_busy_tpm_is_retried(faulty, tpm, tmp_path, rc, command, cc):
    join(faulty(f"{command}={rc:x}*8"), tmp_path)
    assert faulty.commands().count(cc) == 9  # 8 refusals, then the real one
    tpm.assert_clean()


@pytest.mark.parametrize("after", ["CertifyCreation", "ActivateCredential"])
def test_refused_flush_is_tried_again(faulty, tpm, tmp_path, after):
    """The TPM answers one FlushContext with TPM_RC_FAILURE: the library
    flushes again, so the AK does not stay loaded (a TPM without a resource
    manager has about three object slots)."""
    join(faulty(f"FlushContext=101*1@{after}"), tmp_path)
    tpm.assert_clean()


# src/agent/tss.h WithRetry: a first delay of 20 ms, doubled up to 500 ms,
# until the delays add up to 5 s; ESAPI itself submits each command up to
# ESYS_MAX_SUBMISSIONS (5, tpm2-tss esys_int.h) times while the TPM answers
# RETRY, YIELDED or TESTING.
FIRST_DELAY_MS, MAX_DELAY_MS, MAX_TOTAL_MS = 20, 500, 5000
ESYS_MAX_SUBMISSIONS = 5


def backoff_schedule() -> tuple[int, float]:
    """(calls of the retried function, seconds slept) the schedule implies."""
    delay, waited, calls = FIRST_DELAY_MS, 0, 1
    while waited < MAX_TOTAL_MS:
        waited += delay
        delay = min(delay * 2, MAX_DELAY_MS)
        calls += 1
    return calls, waited / 1000


@pytest.mark.parametrize("rc", [RETRY, YIELDED, TESTING], ids=["RETRY", "YIELDED", "TESTING"])
def test_retries_are_bounded(faulty, tpm, tmp_path, rc):
    calls, slept = backoff_schedule()
    assert (calls, slept) == (15, 5.12)
    with tj.Session(faulty(f"ActivateCredential={rc:x}*100000")) as s:
        init = s.begin(b"")
        challenge = make_challenge_tools(init, os.urandom(32), tmp_path / "c")
        start = time.monotonic()
        with pytest.raises(tj.Error) as e:
            s.respond(challenge)
        elapsed = time.monotonic() - start
    assert e.value.args[0] == tj.ERR_TPM
    assert "TPM2_ActivateCredential failed" in e.value.args[1]
    assert "stayed busy" in e.value.args[1]
    # A busy loop (or no backoff) sends far more; giving up early, far fewer.
    sent = faulty.commands().count(0x147)
    assert (calls - 1) * ESYS_MAX_SUBMISSIONS <= sent <= (calls + 1) * ESYS_MAX_SUBMISSIONS, sent
    assert slept - 0.5 < elapsed < slept + 10, elapsed
    tpm.assert_clean()


def test_lockout_names_the_fix(faulty, tpm, tmp_path):
    with tj.Session(faulty(f"PolicySecret={LOCKOUT:x}*1")) as s:
        init = s.begin(b"")
        with pytest.raises(tj.Error) as e:
            s.respond(make_challenge_tools(init, os.urandom(32), tmp_path / "c"))
    assert e.value.args[0] == tj.ERR_TPM
    text = e.value.args[1]
    assert "TPM2_PolicySecret(TPM_RH_ENDORSEMENT)" in text
    assert "dictionary-attack lockout" in text and "tpm2_dictionarylockout" in text
    tpm.assert_clean()


def test_authorization_failure_names_the_hierarchy(faulty, tpm):
    with tj.Session(faulty(f"CreatePrimary={AUTH_FAIL_SESSION_1:x}*1")) as s:
        with pytest.raises(tj.Error) as e:
            s.begin(b"")
    assert e.value.args[0] == tj.ERR_TPM
    text = e.value.args[1]
    assert "TPM2_CreatePrimary(AK, owner hierarchy)" in text
    assert "owner_auth" in text
    tpm.assert_clean()


@pytest.mark.parametrize("command,cc,what", [
    ("CreatePrimary", 0x131, "AK"),
    ("CreatePrimary", 0x131, "EK"),  # no persistent RSA EK: made by CreatePrimary
    ("Load", 0x157, "cached AK"),    # a child AK of the EK
])
def test_tampered_response_to_an_object_load_leaves_no_object(faulty, tpm, tmp_path, command,
                                                              cc, what):
    """The TPM made the object, but its response was altered on the way:
    ESAPI rejects it and returns no handle. The library flushes the object
    through SAPI (a TPM without a resource manager has about three slots)."""
    if what == "EK":
        tpm.tool("tpm2_evictcontrol", "-C", "o", "-c", "0x81010001")
    extra = {"ak_cache_dir": str(tmp_path / "cache")} if what == "cached AK" else {}
    if extra:
        join(faulty("", **extra), tmp_path)  # fills the cache
    with tj.Session(faulty(f"{command}=corrupt", **extra)) as s:
        with pytest.raises(tj.Error) as e:
            s.begin(b"")
    assert e.value.args[0] == tj.ERR_TPM_UNAVAILABLE, e.value.args
    assert f"corrupted 0x{cc:x} rc=0x0" in faulty.log()
    tpm.assert_clean()
    join(faulty("", **extra), tmp_path)  # the TPM is fine
    tpm.assert_clean()


@pytest.mark.parametrize("command", ["ReadPublic", "CertifyCreation", "ActivateCredential"])
def test_disconnect_mid_command_is_tpm_unavailable(faulty, tpm, tmp_path, command):
    s = tj.Session(faulty(f"{command}=disconnect"))
    try:
        with pytest.raises(tj.Error) as e:
            init = s.begin(b"")
            s.respond(make_challenge_tools(init, os.urandom(32), tmp_path / "c"))
        assert e.value.args[0] == tj.ERR_TPM_UNAVAILABLE
        assert "lost the connection to the TPM" in e.value.args[1]
        with pytest.raises(tj.Error) as again:
            s.begin(b"")
        assert again.value.args[0] == tj.ERR_TPM_UNAVAILABLE
    finally:
        s.close()
    # Only the wrapper pretended the TPM vanished, so the AK the lost session
    # could not flush is still loaded (a real TPM drops it at its reset).
    assert len(tpm.handles("transient")) <= 1
    tpm.tool("tpm2_flushcontext", "-t")
    # The TPM is fine: a new session joins.
    join(faulty(""), tmp_path)
