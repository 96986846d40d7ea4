"""The shared object as agents see it: exported symbols, SONAME, and a join
driven through ctypes exactly as a vendor's Python agent would."""

import ctypes
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tpmharness import make_challenge_tools, solution_of

ROOT = Path(__file__).resolve().parent.parent


class Bytes(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_uint8)), ("len", ctypes.c_size_t)]


def load(libpath):
    lib = ctypes.CDLL(str(libpath))
    lib.tpmjoin_last_error.restype = ctypes.c_char_p
    lib.tpmjoin_abi_version.restype = ctypes.c_uint32
    lib.tpmjoin_session_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    for fn in ("tpmjoin_join_begin", "tpmjoin_join_respond"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                     ctypes.POINTER(Bytes)]
    lib.tpmjoin_session_close.argtypes = [ctypes.c_void_p]
    lib.tpmjoin_bytes_free.argtypes = [ctypes.POINTER(Bytes)]
    lib.tpmjoin_identify.argtypes = [ctypes.c_char_p, ctypes.POINTER(Bytes)]
    return lib


def header_functions() -> set[str]:
    names = set()
    for header in ("tpmjoin.h", "tpmjoin_verifier.h"):
        text = (ROOT / "abi" / header).read_text()
        names |= set(re.findall(r"TPMJOIN_EXPORT[^;(]*?\b(tpmjoin_\w+)\s*\(", text, re.S))
    return names


def test_exports_exactly_the_header_functions(libpath):
    out = subprocess.run(["nm", "-D", "--defined-only", str(libpath)], check=True,
                         capture_output=True, text=True).stdout
    exported = {line.split()[-1].split("@")[0] for line in out.splitlines()
                if line.split()[1] in ("T", "W", "D", "B", "R")}
    declared = header_functions()
    assert len(declared) == 14, declared
    assert exported == declared


def test_soname_and_version(libpath):
    out = subprocess.run(["objdump", "-p", str(libpath)], check=True, capture_output=True,
                         text=True).stdout
    assert re.search(r"SONAME\s+libtpmjoin\.so\.1\b", out)
    lib = load(libpath)
    assert lib.tpmjoin_abi_version() == 1


def test_null_arguments(libpath):
    lib = load(libpath)
    assert lib.tpmjoin_session_open(b"{}", None) == 1
    assert b"out is NULL" in lib.tpmjoin_last_error()
    out = Bytes()
    assert lib.tpmjoin_join_begin(None, b"", 0, ctypes.byref(out)) == 1
    assert b"session is NULL" in lib.tpmjoin_last_error()
    assert lib.tpmjoin_join_respond(None, None, 0, ctypes.byref(out)) == 1
    assert lib.tpmjoin_identify(b"{}", None) == 1
    lib.tpmjoin_session_close(None)
    lib.tpmjoin_bytes_free(None)
    lib.tpmjoin_bytes_free(ctypes.byref(out))  # already zeroed
    assert not out.data and out.len == 0


@pytest.mark.concurrency
def test_last_error_is_per_thread(libpath):
    import threading
    lib = load(libpath)
    assert lib.tpmjoin_session_open(b'{"nope": 1}', ctypes.byref(ctypes.c_void_p())) == 1
    seen = {}

    def other():
        seen["before"] = lib.tpmjoin_last_error()
        lib.tpmjoin_session_open(b'{"ek_algorithm": "x"}', ctypes.byref(ctypes.c_void_p()))
        seen["after"] = lib.tpmjoin_last_error()

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen["before"] == b""
    assert b"ek_algorithm" in seen["after"]
    assert b'unknown config key "nope"' in lib.tpmjoin_last_error()


def test_join_through_ctypes(libpath, tpm, tmp_path):
    """What a vendor's Python agent does: dlopen by path, two calls, free."""
    lib = load(libpath)
    session = ctypes.c_void_p()
    rc = lib.tpmjoin_session_open(tpm.config().encode(), ctypes.byref(session))
    assert rc == 0, lib.tpmjoin_last_error()
    try:
        out = Bytes()
        assert lib.tpmjoin_join_begin(session, b"req", 3, ctypes.byref(out)) == 0
        init = ctypes.string_at(out.data, out.len)
        lib.tpmjoin_bytes_free(ctypes.byref(out))
        assert not out.data and out.len == 0
        secret = os.urandom(32)
        challenge = make_challenge_tools(init, secret, tmp_path)
        assert lib.tpmjoin_join_respond(session, challenge, len(challenge), ctypes.byref(out)) == 0
        answer = ctypes.string_at(out.data, out.len)
        lib.tpmjoin_bytes_free(ctypes.byref(out))
        assert solution_of(answer) == secret
    finally:
        lib.tpmjoin_session_close(session)


def load_verifier(libpath):
    lib = load(libpath)
    lib.tpmjoin_verifier_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.tpmjoin_verifier_challenge.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                               ctypes.POINTER(ctypes.c_void_p),
                                               ctypes.POINTER(Bytes)]
    lib.tpmjoin_verifier_finish.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                            ctypes.POINTER(Bytes)]
    lib.tpmjoin_challenge_free.argtypes = [ctypes.c_void_p]
    lib.tpmjoin_ek_info.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(Bytes)]
    lib.tpmjoin_verifier_close.argtypes = [ctypes.c_void_p]
    return lib


OK, INVALID_ARGUMENT, BAD_MESSAGE, STATE, DENIED = 0, 1, 2, 5, 6
HUGE = 16 << 20


class LiveSession:
    """A ctypes session on a TPM with the calls the bad-input tests need."""

    def __init__(self, lib, tpm, tmp_path):
        self.lib, self.tpm, self.tmp_path = lib, tpm, tmp_path
        self.s = ctypes.c_void_p()
        assert lib.tpmjoin_session_open(tpm.config().encode(), ctypes.byref(self.s)) == OK, \
            lib.tpmjoin_last_error()

    def call(self, fn, data, length, out):
        """fn's status; the message when it failed; out stays zeroed then."""
        rc = getattr(self.lib, fn)(self.s, data, length, out)
        error = self.lib.tpmjoin_last_error().decode() if rc != OK else ""
        return rc, error

    def begin(self) -> bytes:
        out = Bytes()
        rc, error = self.call("tpmjoin_join_begin", b"", 0, ctypes.byref(out))
        assert rc == OK, error
        init = ctypes.string_at(out.data, out.len)
        self.lib.tpmjoin_bytes_free(ctypes.byref(out))
        return init

    def challenge_for(self, init: bytes) -> bytes:
        name = os.urandom(4).hex()
        return make_challenge_tools(init, os.urandom(32), self.tmp_path / name)

    def expect(self, fn, data, length, status, needle, with_out=True):
        out = Bytes()
        rc, error = self.call(fn, data, length, ctypes.byref(out) if with_out else None)
        assert rc == status, f"{fn} returned {rc}, want {status}: {error!r}"
        assert needle in error, error
        assert not out.data and out.len == 0
        return error

    def join_works(self):
        init = self.begin()
        challenge = self.challenge_for(init)
        out = Bytes()
        rc, error = self.call("tpmjoin_join_respond", challenge, len(challenge),
                              ctypes.byref(out))
        assert rc == OK, error
        self.lib.tpmjoin_bytes_free(ctypes.byref(out))

    def close(self):
        self.lib.tpmjoin_session_close(self.s)


@pytest.fixture
def live(libpath, tpm, tmp_path):
    session = LiveSession(load(libpath), tpm, tmp_path)
    yield session
    session.close()


def test_begin_refuses_null_out_and_null_data_on_a_live_session(live):
    """Refused at the argument checks: no join starts, so begin works next."""
    live.expect("tpmjoin_join_begin", b"req", 3, INVALID_ARGUMENT,
                "tpmjoin_join_begin: out is NULL", with_out=False)
    live.expect("tpmjoin_join_begin", None, 5, INVALID_ARGUMENT,
                "join_request is NULL but its length is 5")
    live.expect("tpmjoin_join_respond", b"\x12\x00", 2, STATE, "no join is pending")
    live.join_works()


def test_respond_refuses_null_data_and_ends_the_join(live):
    challenge = live.challenge_for(live.begin())
    live.expect("tpmjoin_join_respond", None, 5, INVALID_ARGUMENT,
                "challenge is NULL but its length is 5")
    # Whatever the outcome, the pending join ended: the real challenge is
    # now out of order.
    live.expect("tpmjoin_join_respond", challenge, len(challenge), STATE, "no join is pending")
    live.join_works()


def test_respond_refuses_null_out_and_ends_the_join(live):
    """respond(out=NULL) ends the pending join too ("whatever the outcome
    (unless s is NULL)", abi/tpmjoin.h): a later respond finds none, and a
    new join begins and completes."""
    challenge = live.challenge_for(live.begin())
    live.expect("tpmjoin_join_respond", challenge, len(challenge), INVALID_ARGUMENT,
                "tpmjoin_join_respond: out is NULL", with_out=False)
    live.expect("tpmjoin_join_respond", challenge, len(challenge), STATE, "no join is pending")
    live.join_works()


def test_oversized_input_is_refused(live):
    big = b"\x00" * HUGE
    # begin: refused before it starts a join
    live.expect("tpmjoin_join_begin", big, len(big), BAD_MESSAGE,
                f"join_request is {HUGE} bytes, more than the limit")
    # respond: refused, and the pending join ended
    challenge = live.challenge_for(live.begin())
    live.expect("tpmjoin_join_respond", big, len(big), BAD_MESSAGE,
                f"tpmjoin_join_respond: challenge is {HUGE} bytes, more than the limit")
    live.expect("tpmjoin_join_respond", challenge, len(challenge), STATE, "no join is pending")
    live.join_works()


def test_finish_refuses_huge_null_and_empty_answers(libpath, tpm):
    """abi/tpmjoin_verifier.h: a finish that gets past the argument checks
    uses the challenge up, whatever its outcome. The argument checks are the
    ABI shim's: NULL pointers, a NULL request with a length, a request over
    the 1 MiB limit (BAD_MESSAGE). Those leave the challenge as it was;
    an empty (parsed, malformed) answer uses it up."""
    import _tpmjoin as tj
    lib = load_verifier(libpath)
    ek_hash = json.loads(tj.identify(tpm.config()))["ek_pub_hash"]
    policy = json.dumps({"allow": [{"ek_public_hash": ek_hash}]}).encode()
    v = ctypes.c_void_p()
    assert lib.tpmjoin_verifier_open(policy, ctypes.byref(v)) == OK, lib.tpmjoin_last_error()
    session = tj.Session(tpm.config())
    challenges = []
    try:
        def new_challenge(init):
            c, out = ctypes.c_void_p(), Bytes()
            assert lib.tpmjoin_verifier_challenge(v, init, len(init), ctypes.byref(c),
                                                  ctypes.byref(out)) == OK
            challenges.append(c)
            response = ctypes.string_at(out.data, out.len)
            lib.tpmjoin_bytes_free(ctypes.byref(out))
            return c, response

        def finish(c, data, length, status, needle):
            out = Bytes()
            rc = lib.tpmjoin_verifier_finish(c, data, length, ctypes.byref(out))
            error = lib.tpmjoin_last_error().decode() if rc != OK else ""
            assert rc == status, error
            assert needle in error, error
            if rc != OK:
                assert not out.data and out.len == 0
            else:
                result = json.loads(ctypes.string_at(out.data, out.len))
                lib.tpmjoin_bytes_free(ctypes.byref(out))
                return result

        init = session.begin(b"")
        c, response = new_challenge(init)
        answer = session.respond(response)
        big = answer + b"\x00" * (HUGE - len(answer))
        finish(c, big, len(big), BAD_MESSAGE,
               f"tpmjoin_verifier_finish: request is {HUGE} bytes, more than the limit")
        finish(c, None, 7, INVALID_ARGUMENT, "request is NULL but its length is 7")
        # Neither got past the argument checks: the right answer still wins.
        assert finish(c, answer, len(answer), OK, "")["ek_pub_hash"] == ek_hash
        finish(c, answer, len(answer), STATE, "already been finished")

        # An empty answer gets past them: BAD_MESSAGE, and the challenge is gone.
        c2, _ = new_challenge(init)
        finish(c2, b"", 0, BAD_MESSAGE, "tpmjoin_verifier_finish: ")
        finish(c2, answer, len(answer), STATE, "already been finished")
        # NULL with length 0 is the empty input too.
        c3, _ = new_challenge(init)
        finish(c3, None, 0, BAD_MESSAGE, "tpmjoin_verifier_finish: ")
        finish(c3, answer, len(answer), STATE, "already been finished")
    finally:
        session.close()
        for c in challenges:
            lib.tpmjoin_challenge_free(c)
        lib.tpmjoin_verifier_close(v)


def test_every_function_refuses_huge_empty_and_wrong_inputs(libpath):
    """16 MiB, empty and wrong-kind inputs to every function that takes
    bytes: a documented status and a message, never a crash."""
    lib = load_verifier(libpath)
    huge = b"\x0a" * (16 << 20)
    out = Bytes()

    def check(rc, expected, needle=b""):
        assert rc == expected, lib.tpmjoin_last_error()
        assert lib.tpmjoin_last_error(), "a failure always has a message"
        assert needle in lib.tpmjoin_last_error()
        assert not out.data and out.len == 0

    check(lib.tpmjoin_ek_info(huge, len(huge), ctypes.byref(out)), 1)
    check(lib.tpmjoin_ek_info(b"", 0, ctypes.byref(out)), 1)
    check(lib.tpmjoin_ek_info(None, 5, ctypes.byref(out)), 1, b"NULL")
    v = ctypes.c_void_p()
    check(lib.tpmjoin_verifier_open(b"{" + b" " * (16 << 20) + b"}", ctypes.byref(v)), 1)
    check(lib.tpmjoin_verifier_open(b"", ctypes.byref(v)), 1)
    check(lib.tpmjoin_verifier_open(None, ctypes.byref(v)), 1, b"NULL")
    policy = b'{"allow":[{"ek_public_hash":"' + b"ab" * 32 + b'"}]}'
    assert lib.tpmjoin_verifier_open(policy, ctypes.byref(v)) == 0
    try:
        c = ctypes.c_void_p()
        check(lib.tpmjoin_verifier_challenge(v, huge, len(huge), ctypes.byref(c),
                                             ctypes.byref(out)), 2)
        check(lib.tpmjoin_verifier_challenge(v, b"", 0, ctypes.byref(c), ctypes.byref(out)), 2)
        # a challenge response where an init request belongs
        check(lib.tpmjoin_verifier_challenge(v, b"\x12\x00", 2, ctypes.byref(c),
                                             ctypes.byref(out)), 2, b"expected init")
        assert not c.value
        check(lib.tpmjoin_verifier_finish(None, b"", 0, ctypes.byref(out)), 1, b"NULL")
    finally:
        lib.tpmjoin_verifier_close(v)
    config = b'{"tcti":"' + b"x" * (16 << 20) + b'"}'
    check(lib.tpmjoin_identify(config, ctypes.byref(out)), 1, b"longer than")
    session = ctypes.c_void_p()
    check(lib.tpmjoin_session_open(b'{"tcti":"no-such-tcti"}', ctypes.byref(session)), 4)
    assert not session.value
