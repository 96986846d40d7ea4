// tpmjoin demo: a whole TPM join through the ABI, agent and verifier in one
// process, against a throwaway swtpm (or a TPM named with --tcti).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/abi_helpers.h"
#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/throwaway_swtpm.h"

namespace tpmjoin_cli {

const char kDemoHelp[] =
    "usage: tpmjoin demo [--tcti TCTI] [--ecc]\n"
    "\n"
    "Runs a whole TPM join through libtpmjoin's ABI, printing each step and its\n"
    "duration: identify the TPM, build a policy that allows its EK, then\n"
    "agent begin -> verifier challenge -> agent respond -> verifier finish.\n"
    "\n"
    "Without --tcti it starts a throwaway swtpm whose EK certificates come from a\n"
    "throwaway CA, trusts that CA in the policy, and removes everything it\n"
    "started (also on failure and on Ctrl-C). It never touches a real TPM unless\n"
    "asked to.\n"
    "\n"
    "  --tcti TCTI  join with that TPM instead (e.g. device:/dev/tpmrm0); the\n"
    "               policy then allows its EK by hash only (no CA is known)\n"
    "  --ecc        use the ECC EK and an ECC (P-256) AK instead of RSA\n"
    "\n"
    "Exit codes: 0 the join succeeded, 1 a step failed, 2 bad command line,\n"
    "130 interrupted (after cleaning up).\n";

namespace {

// Handles SIGINT/SIGTERM/SIGHUP on a thread of its own: cleans the
// throwaway swtpm up and exits 130. (The signals are blocked in every other
// thread, so a blocking TPM call never runs a handler.)
class InterruptGuard {
 public:
  explicit InterruptGuard(ThrowawaySwtpm* swtpm) : swtpm_(swtpm) {
    sigemptyset(&set_);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) sigaddset(&set_, sig);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this] {
      int sig = 0;
      sigwait(&set_, &sig);
      if (sig == SIGUSR1) return;  // normal end
      std::fprintf(stderr, "\ninterrupted: stopping swtpm and removing its files\n");
      if (swtpm_ != nullptr) swtpm_->Cleanup();
      _exit(kExitInterrupted);
    });
  }
  ~InterruptGuard() {
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
    pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
  }

 private:
  ThrowawaySwtpm* swtpm_;
  sigset_t set_;
  std::thread thread_;
};

struct Step {
  std::string name;
  double seconds;
};

// Runs `fn` under a progress line and records its duration.
template <typename Fn>
auto Timed(std::vector<Step>* steps, const std::string& name, Fn&& fn) {
  Progress progress(name);
  if constexpr (std::is_void_v<decltype(fn())>) {
    fn();
    steps->push_back({name, progress.Done()});
  } else {
    auto result = fn();
    steps->push_back({name, progress.Done()});
    return result;
  }
}

struct ChallengeOwner {
  tpmjoin_challenge* c = nullptr;
  ~ChallengeOwner() { tpmjoin_challenge_free(c); }
};

struct VerifierOwner {
  tpmjoin_verifier* v = nullptr;
  ~VerifierOwner() { tpmjoin_verifier_close(v); }
};

struct SessionOwner {
  tpmjoin_session* s = nullptr;
  ~SessionOwner() { tpmjoin_session_close(s); }
};

int RunDemo(const std::string& tcti_flag, bool ecc, ThrowawaySwtpm* swtpm) {
  std::vector<Step> steps;
  std::string tcti = tcti_flag;
  if (swtpm != nullptr) {
    Timed(&steps, "Manufacturing a throwaway swtpm (EK certificates from a throwaway CA)",
          [&] { swtpm->Manufacture(); });
    Timed(&steps, "Starting swtpm", [&] { swtpm->Start(); });
    tcti = swtpm->tcti();
  }
  std::printf("TPM: %s\n", tcti.c_str());
  const std::string algorithms =
      ecc ? R"({"ek_algorithm":"ecc","ak_algorithm":"ecc"})" : R"({"ek_algorithm":"rsa"})";
  const std::string config = TctiConfig(tcti, algorithms);

  const auto identity = Timed(&steps, "Identifying the TPM (tpmjoin_identify)", [&] {
    OwnedBytes out;
    Check(tpmjoin_identify(config.c_str(), out.out()));
    return nlohmann::json::parse(out.str());
  });
  std::printf("EKPub Hash: %s\nEKCert Detected: %s\n",
              identity["ek_pub_hash"].get<std::string>().c_str(),
              identity["ek_cert_present"].get<bool>() ? "true" : "false");
  if (identity["ek_cert_present"].get<bool>()) {
    std::printf("EKCert Serial: %s\n", identity["ek_cert_serial"].get<std::string>().c_str());
  }

  nlohmann::json rule = {{"description", "demo TPM"},
                         {"ek_public_hash", identity["ek_pub_hash"]}};
  nlohmann::json policy = {{"allow", nlohmann::json::array({rule})}};
  if (swtpm != nullptr) policy["ekcert_allowed_cas"] = {swtpm->issuer_ca_pem()};
  std::printf("Policy: allow EKPub Hash %s%s\n", identity["ek_pub_hash"].get<std::string>().c_str(),
              swtpm != nullptr ? ", EK certificate must chain to the throwaway issuing CA"
                               : " (no CA configured: list your TPM maker's CA in production)");

  VerifierOwner verifier;
  Check(tpmjoin_verifier_open(policy.dump().c_str(), &verifier.v));
  SessionOwner session;
  Timed(&steps, "Agent: opening a session (tpmjoin_session_open)",
        [&] { Check(tpmjoin_session_open(config.c_str(), &session.s)); });

  const std::string join_request = "demo RegisterUsingTokenRequest";
  OwnedBytes init;
  Timed(&steps, "Agent: EK + certificate, new AK, TPM2_CertifyCreation (tpmjoin_join_begin)", [&] {
    Check(tpmjoin_join_begin(session.s, reinterpret_cast<const uint8_t*>(join_request.data()),
                             join_request.size(), init.out()));
  });
  ChallengeOwner challenge;
  OwnedBytes challenge_msg;
  Timed(&steps, "Verifier: EK chain, allow rules, AK checks, MakeCredential "
                "(tpmjoin_verifier_challenge)",
        [&] {
          Check(tpmjoin_verifier_challenge(verifier.v, init.data(), init.size(), &challenge.c,
                                           challenge_msg.out()));
        });
  OwnedBytes answer;
  Timed(&steps, "Agent: TPM2_ActivateCredential (tpmjoin_join_respond)", [&] {
    Check(tpmjoin_join_respond(session.s, challenge_msg.data(), challenge_msg.size(),
                               answer.out()));
  });
  OwnedBytes result;
  Timed(&steps, "Verifier: checking the answer (tpmjoin_verifier_finish)", [&] {
    Check(tpmjoin_verifier_finish(challenge.c, answer.data(), answer.size(), result.out()));
  });

  std::printf("\nJoin succeeded: the host holds the TPM with that EK.\n\nSteps:\n");
  double total = 0;
  for (const auto& step : steps) {
    std::printf("  %8.3f s  %s\n", step.seconds, step.name.c_str());
    total += step.seconds;
  }
  std::printf("  %8.3f s  total\n\nMessages: init %zu bytes, challenge %zu bytes, answer %zu "
              "bytes\n\nVerifier result:\n%s\n",
              total, init.size(), challenge_msg.size(), answer.size(),
              nlohmann::json::parse(result.str()).dump(2).c_str());
  return kExitOk;
}

}  // namespace

int DemoCommand(const Args& args) {
  std::string tcti;
  bool ecc = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--tcti" && i + 1 < args.size()) {
      tcti = args[++i];
    } else if (args[i] == "--ecc") {
      ecc = true;
    } else {
      std::fprintf(stderr, "tpmjoin demo: unexpected argument \"%s\"\n\n%s", args[i].c_str(),
                   kDemoHelp);
      return kExitUsage;
    }
  }
  if (!tcti.empty()) {
    InterruptGuard guard(nullptr);
    return RunDemo(tcti, ecc, nullptr);
  }
  if (!SwtpmInstalled()) {
    std::fprintf(stderr,
                 "tpmjoin demo: swtpm is not installed (Debian: apt-get install swtpm "
                 "swtpm-tools; ./dev demo installs it), or pass --tcti to use a real TPM\n");
    return kExitFailed;
  }
  if (access("/dev/tpmrm0", F_OK) == 0) {
    std::fprintf(stderr, "note: this machine has a TPM; the demo uses a throwaway swtpm anyway "
                         "(--tcti device:/dev/tpmrm0 joins with the real one)\n");
  }
  ThrowawaySwtpm swtpm;
  InterruptGuard guard(&swtpm);
  int code = kExitFailed;
  try {
    code = RunDemo("", ecc, &swtpm);
  } catch (...) {
    swtpm.Cleanup();
    throw;
  }
  swtpm.Cleanup();
  return code;
}

}  // namespace tpmjoin_cli
