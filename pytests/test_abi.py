"""The shared object as agents see it: exported symbols, SONAME, and a join
driven through ctypes exactly as a vendor's Python agent would."""

import ctypes
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


def test_oversized_input_is_refused(libpath, tpm):
    lib = load(libpath)
    session = ctypes.c_void_p()
    assert lib.tpmjoin_session_open(tpm.config().encode(), ctypes.byref(session)) == 0
    try:
        big = b"\x00" * (16 << 20)
        out = Bytes()
        assert lib.tpmjoin_join_begin(session, big, len(big), ctypes.byref(out)) == 2
        assert b"more than the limit" in lib.tpmjoin_last_error()
        assert lib.tpmjoin_join_respond(session, big, len(big), ctypes.byref(out)) == 2
        assert not out.data
    finally:
        lib.tpmjoin_session_close(session)


def test_every_function_refuses_huge_empty_and_wrong_inputs(libpath):
    """16 MiB, empty and wrong-kind inputs to every function that takes
    bytes: a documented status and a message, never a crash."""
    lib = load(libpath)
    lib.tpmjoin_verifier_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.tpmjoin_verifier_challenge.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                               ctypes.POINTER(ctypes.c_void_p),
                                               ctypes.POINTER(Bytes)]
    lib.tpmjoin_verifier_finish.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                            ctypes.POINTER(Bytes)]
    lib.tpmjoin_ek_info.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(Bytes)]
    lib.tpmjoin_verifier_close.argtypes = [ctypes.c_void_p]
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
