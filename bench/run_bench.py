#!/usr/bin/python3
"""./dev bench: joins on swtpm side by side (tpm2-tools flow vs libtpmjoin,
fresh and cached AK, RSA and ECC AKs), then the verifier against the bare
OpenSSL operations it cannot avoid (Google Benchmark), all in one run.
Writes bench/RESULTS.md."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_paths(build_dir: Path):
    sys.path.insert(0, str(build_dir / "python"))
    sys.path.insert(0, str(ROOT / "pytests"))


class ToolsFlow:
    """One join done the way a shell script over tpm2-tools would: EK
    certificate from NV, a fresh RSA AK (createprimary + certifycreation),
    MakeCredential in software, a policy session and activatecredential."""

    def __init__(self, tpm, workdir: Path):
        self.tpm = tpm
        self.w = workdir
        workdir.mkdir(parents=True, exist_ok=True)

    def run(self, tcti: str, verifier_factory) -> None:
        import tpmjoin_pb2 as pb
        env = dict(os.environ, TPM2TOOLS_TCTI=tcti, TSS2_LOG="all+none")
        w = lambda n: str(self.w / n)  # noqa: E731

        def tool(*cmd):
            subprocess.run(list(cmd), env=env, check=True, capture_output=True)

        tool("tpm2_nvread", "0x01C00002", "-C", "o", "-o", w("ek.der"))
        tool("tpm2_createprimary", "-Q", "-C", "o", "-G", "rsa2048:rsassa-sha256:null",
             "-a", "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign",
             "-c", w("ak.ctx"), "--creation-data", w("cd.bin"), "--creation-ticket",
             w("tk.bin"), "--creation-hash", w("ch.bin"))
        tool("tpm2_certifycreation", "-C", w("ak.ctx"), "-c", w("ak.ctx"), "-d", w("ch.bin"),
             "-t", w("tk.bin"), "-g", "sha256", "-o", w("sig.bin"), "--attestation", w("att.bin"))
        tool("tpm2_flushcontext", "-t")
        tool("tpm2_readpublic", "-c", w("ak.ctx"), "-f", "tpmt", "-o", w("ak.tpmt"))
        tool("tpm2_flushcontext", "-t")
        msg = pb.RegisterUsingTPMMethodRequest()
        msg.init.ek_cert = Path(w("ek.der")).read_bytes()
        p = msg.init.attestation_params
        p.public = Path(w("ak.tpmt")).read_bytes()
        p.create_data = Path(w("cd.bin")).read_bytes()[2:]
        p.create_attestation = Path(w("att.bin")).read_bytes()
        p.create_signature = Path(w("sig.bin")).read_bytes()
        challenge, response = verifier_factory().challenge(msg.SerializeToString())
        cred = pb.RegisterUsingTPMMethodResponse.FromString(response).challenge_request
        Path(w("cred.in")).write_bytes(struct.pack(">II", 0xBADCC0DE, 1) + cred.credential_blob
                                       + cred.secret)
        tool("tpm2_startauthsession", "--policy-session", "-S", w("session.ctx"))
        tool("tpm2_policysecret", "-S", w("session.ctx"), "-c", "e")
        tool("tpm2_activatecredential", "-c", w("ak.ctx"), "-C", "0x81010001", "-i", w("cred.in"),
             "-o", w("secret.out"), "-P", f"session:{w('session.ctx')}")
        tool("tpm2_flushcontext", "-t")
        answer = pb.RegisterUsingTPMMethodRequest()
        answer.challenge_response.solution = Path(w("secret.out")).read_bytes()
        json.loads(challenge.finish(answer.SerializeToString()))


def library_join(tj, config: str, verifier) -> None:
    with tj.Session(config) as s:
        challenge, response = verifier.challenge(s.begin(b"bench"))
        json.loads(challenge.finish(s.respond(response)))


def measure(fn, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def count_commands(fn_with_tcti, tcti: str, workdir: Path) -> int:
    pcap = workdir / f"count-{os.urandom(4).hex()}.pcap"
    old = os.environ.get("TCTI_PCAP_FILE")
    os.environ["TCTI_PCAP_FILE"] = str(pcap)
    try:
        fn_with_tcti("pcap:" + tcti)
    finally:
        if old is None:
            os.environ.pop("TCTI_PCAP_FILE", None)
        else:
            os.environ["TCTI_PCAP_FILE"] = old
    from tpmharness import commands_in  # a command the TPM asked to resend counts once
    return len(commands_in(pcap))


def tpm_benchmarks(runs: int, workdir: Path) -> list[dict]:
    import _tpmjoin as tj
    from tpmharness import Swtpm, Variant
    tpm = Swtpm(Variant(), parent=workdir)
    try:
        info = json.loads(tj.identify(tpm.config()))
        policy = json.dumps({"allow": [{"ek_public_hash": info["ek_pub_hash"]}],
                             "ekcert_allowed_cas": [tpm.issuer_ca_pem]})
        verifier = tj.Verifier(policy)
        rows = []

        tools = ToolsFlow(tpm, workdir / "tools")
        tools.run(tpm.tcti, lambda: verifier)  # warm up
        cmds = count_commands(lambda t: tools.run(t, lambda: verifier), tpm.tcti, workdir)
        median, _ = measure(lambda: tools.run(tpm.tcti, lambda: verifier), runs)
        rows.append({"flow": "tpm2-tools (RSA EK, fresh RSA AK)", "commands": cmds,
                     "median_s": median})

        for ak in ("rsa", "ecc"):
            def cfg(tcti, **extra):
                c = json.loads(tpm.config(ak_algorithm=ak, **extra))
                c["tcti"] = tcti
                return json.dumps(c)
            fresh = lambda t: library_join(tj, cfg(t), verifier)  # noqa: E731
            fresh(tpm.tcti)
            cmds = count_commands(fresh, tpm.tcti, workdir)
            median, _ = measure(lambda: fresh(tpm.tcti), runs)
            rows.append({"flow": f"libtpmjoin, fresh {ak.upper()} AK", "commands": cmds,
                         "median_s": median})

            # The first join with ak_cache_dir makes the AK as a child of the
            # EK and stores it: once per TPM, each run with an empty cache.
            first = lambda t: library_join(  # noqa: E731
                tj, cfg(t, ak_cache_dir=tempfile.mkdtemp(dir=workdir)), verifier)
            cmds = count_commands(first, tpm.tcti, workdir)
            median, _ = measure(lambda: first(tpm.tcti), runs)
            rows.append({"flow": f"libtpmjoin, first join with ak_cache_dir, {ak.upper()} AK "
                                 "(once per TPM)", "commands": cmds, "median_s": median})

            cache = tempfile.mkdtemp(dir=workdir)
            cached = lambda t: library_join(tj, cfg(t, ak_cache_dir=cache), verifier)  # noqa
            cached(tpm.tcti)  # fills the cache
            cmds = count_commands(cached, tpm.tcti, workdir)
            median, _ = measure(lambda: cached(tpm.tcti), runs)
            rows.append({"flow": f"libtpmjoin, cached {ak.upper()} AK (ak_cache_dir)",
                         "commands": cmds, "median_s": median})
        return rows, tpm
    except BaseException:
        tpm.destroy()
        raise


def verifier_benchmarks(build_dir: Path, tpm, workdir: Path) -> list[dict]:
    """Google Benchmark: the verifier per challenge vs the bare OpenSSL
    operations, on an init request from this run's swtpm."""
    import _tpmjoin as tj
    with tj.Session(tpm.config()) as s:
        init = s.begin(b"bench")
        info = json.loads(tj.identify(tpm.config()))
        policy = json.dumps({"allow": [{"ek_public_hash": info["ek_pub_hash"]}],
                             "ekcert_allowed_cas": [tpm.issuer_ca_pem]})
        v = tj.Verifier(policy)
        challenge, response = v.challenge(init)
        json.loads(challenge.finish(s.respond(response)))
    (workdir / "init.bin").write_bytes(init)
    (workdir / "policy.json").write_text(policy)
    (workdir / "ca.pem").write_text(tpm.issuer_ca_pem)
    out = subprocess.run(
        [str(build_dir / "bench" / "verifier_bench"), f"--init={workdir / 'init.bin'}",
         f"--policy={workdir / 'policy.json'}", f"--ca={workdir / 'ca.pem'}",
         "--benchmark_format=json", "--benchmark_repetitions=5",
         "--benchmark_report_aggregates_only=true", "--benchmark_min_time=0.3"],
        capture_output=True, text=True, check=True).stdout
    results = json.loads(out)
    rows = []
    for b in results["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        rows.append({"name": b["run_name"], "us": b["real_time"] / 1000.0
                     if b["time_unit"] == "ns" else b["real_time"]})
    return rows, results["context"]


def targets(tpm_rows: list[dict], by_name: dict, floor: float) -> list[str]:
    """Issue 6's targets, each with this run's figure and whether it holds."""
    base = tpm_rows[0]["median_s"]

    def row(prefix):
        return next(r for r in tpm_rows if r["flow"].startswith(prefix))

    def verdict(ok):
        return "met" if ok else "**missed**"

    out = ["", "## Targets", "", "| target | this run | |", "|---|---|---|"]
    for ak in ("RSA", "ECC"):
        fresh = row(f"libtpmjoin, fresh {ak} AK")
        cached = row(f"libtpmjoin, cached {ak} AK")
        first = row(f"libtpmjoin, first join with ak_cache_dir, {ak} AK")
        out.append(f"| fresh {ak} AK join: at most 10 TPM commands | {fresh['commands']} | "
                   f"{verdict(fresh['commands'] <= 10)} |")
        out.append(f"| cached {ak} AK renewal: at most 8 TPM commands | {cached['commands']} | "
                   f"{verdict(cached['commands'] <= 8)} |")
        out.append(f"| cached {ak} AK renewal: at most 0.1x the tpm2-tools flow | "
                   f"{cached['median_s'] / base:.2f}x | "
                   f"{verdict(cached['median_s'] / base <= 0.1)} |")
        out.append(f"| (first join with ak_cache_dir, {ak} AK: once per TPM; a child of the EK "
                   f"takes three EK policy authorizations) | {first['commands']} commands | "
                   f"{verdict(first['commands'] <= 10)} against the fresh-AK budget |")
    warm = by_name.get("BM_VerifierChallenge", 0.0) / floor if floor else 0.0
    cold = by_name.get("BM_VerifierChallenge_NoEkCache", 0.0) / floor if floor else 0.0
    parse = by_name.get("BM_Reference_ParseEkCertificate", 0.0)
    out.append(f"| verifier per challenge: at most 1.5x its floor (renewal, EK cache hit) | "
               f"{warm:.2f}x | {verdict(warm <= 1.5)} |")
    out.append(f"| verifier per challenge: at most 1.5x its floor (first join of a host, no "
               f"cache) | {cold:.2f}x | {verdict(cold <= 1.5)} |")
    out += ["", "Where a cached renewal's time goes (measured separately with callgrind and the "
            "pcap timestamps): about half is swtpm's own RSA private operations "
            "(StartAuthSession's salt, ActivateCredential's seed); most of the rest is tpm2-tss "
            "3.2's ESAPI creating a new OpenSSL library context to draw each caller nonce and "
            "salt (about 1.5 ms each, three per renewal), which ESAPI 3.2 offers no way to "
            "replace."]
    out += ["", f"A host's first join costs the verifier {cold:.1f}x the floor. Of that, "
            f"{parse:.0f} us is OpenSSL 3.0 parsing the EK certificate (d2i_X509 decodes the "
            "public key through the provider decoder framework, which 3.0 sets up anew for "
            "every certificate); avoiding it would mean parsing X.509 ourselves, which we do "
            "not. Renewals, the common case (every ~20 minutes per bot), hit the cache. "
            "(callgrind, on an RSA EK certificate from swtpm, measured separately: of a cold "
            "challenge's instructions, 42% are the floor's three public-key operations, 36% "
            "OSSL_DECODER_CTX_new_for_pkey inside d2i_X509, 4% the rest of d2i_X509, and 18% "
            "everything else: path building, the AK's parsing, KDFa, AES-CFB, the HMAC, "
            "protobuf. Without the decoder setup a cold challenge would be about 2.1x the "
            "floor: OpenSSL 3.0 alone puts 1.5x out of reach.)"]
    return out


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    swtpm = subprocess.run(["swtpm", "--version"], capture_output=True, text=True).stdout.strip()
    tools = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "tpm2-tools"],
                           capture_output=True, text=True).stdout
    ssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores, {int(mem) // 1024 // 1024} GiB; "
            f"{platform.system()} {platform.release()}; {swtpm}; tpm2-tools {tools}; {ssl}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build")
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = ap.parse_args()
    setup_paths(args.build_dir)

    with tempfile.TemporaryDirectory(prefix="tpmjoin-bench-") as tmp:
        workdir = Path(tmp)
        print(f"joins on swtpm, {args.runs} runs each ...", file=sys.stderr)
        tpm_rows, tpm = tpm_benchmarks(args.runs, workdir)
        try:
            print("verifier (Google Benchmark) ...", file=sys.stderr)
            verifier_rows, context = verifier_benchmarks(args.build_dir, tpm, workdir)
        finally:
            tpm.destroy()

    base = tpm_rows[0]["median_s"]
    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC by "
        "`./dev bench` (bench/run_bench.py), all in one run.",
        "",
        f"Machine: {machine()}.",
        "",
        "## A whole join on swtpm",
        "",
        "Session open -> begin -> verifier challenge -> respond -> verifier finish -> close, "
        f"median of {args.runs} runs; TPM commands counted with tpm2-tss' pcap TCTI and "
        "tshark. The verifier is the same in every row.",
        "",
        "| flow | TPM commands | median wall time | vs tpm2-tools |",
        "|---|---:|---:|---:|",
    ]
    for r in tpm_rows:
        lines.append(f"| {r['flow']} | {r['commands']} | {r['median_s'] * 1000:.1f} ms | "
                     f"{r['median_s'] / base:.2f}x |")
    lines += ["", "The tpm2-tools flow (bench/run_bench.py `ToolsFlow`) reads the EK certificate "
              "from NV, makes the AK with createprimary and certifies it, reads its public "
              "area, and runs a policy session and activatecredential, flushing transient "
              f"objects between tools: {tpm_rows[0]['commands']} commands here, where "
              "../shared/REFERENCE.md section 7 "
              "counts 36 for a flow without the NV read, certifycreation, readpublic and "
              "flushes. Every tool also opens its own connection and probes the TPM."]
    by_name = {r["name"]: r["us"] for r in verifier_rows}
    floor = sum(by_name.get(n, 0.0) for n in
                ("BM_Floor_EkCertSignature", "BM_Floor_AkSignature", "BM_Floor_OaepEncrypt"))
    lines += [
        "",
        "## The verifier, per challenge",
        "",
        "Google Benchmark medians of 5 repetitions. The floor is the sum of the public-key "
        "operations a challenge cannot avoid: the EK certificate's signature checked with the "
        "issuing CA's key, the AK's signature over its creation attestation, and the RSA-OAEP "
        "encryption of the seed to the EK. BM_VerifierChallenge is the ABI call a server "
        "makes, with the cache of verified EK certificates (a renewal presents the same "
        "certificate, so its parsing and path validation are skipped); "
        "BM_VerifierChallenge_NoEkCache is the first join of a host, with the cache off. "
        "BM_Reference_ParseEkCertificate is not part of the floor: it is OpenSSL 3.0 parsing "
        "the EK certificate (d2i_X509, which decodes the key through the provider decoders), "
        "a cost every first join pays inside NoEkCache.",
        "",
        "| benchmark | median | vs floor |",
        "|---|---:|---:|",
    ]
    for r in verifier_rows:
        lines.append(f"| {r['name']} | {r['us']:.1f} us | "
                     f"{(r['us'] / floor if floor else 0):.2f}x |")
    lines.append(f"| floor (sum of the three BM_Floor_*) | {floor:.1f} us | 1.00x |")
    lines += targets(tpm_rows, by_name, floor)
    lines += ["", f"Google Benchmark context: {context.get('num_cpus')} CPUs at "
              f"{context.get('mhz_per_cpu')} MHz; libtpmjoin built RelWithDebInfo (-O2); "
              f"Debian's libbenchmark reports its own build as "
              f"{context.get('library_build_type')} (the timing harness, not the code timed)."]
    text = "\n".join(lines) + "\n"
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
