// tpmjoin demo: a whole TPM join through the ABI, agent and verifier in one
// process, against a throwaway swtpm (or a TPM named with --tcti).
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <memory>
#include <string>
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
    "Interrupting (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2) removes the\n"
    "throwaway swtpm and its files at once; with --tcti the demo stops after the\n"
    "current TPM command and closes its session (interrupt again to quit at once).\n"
    "\n"
    "Exit codes: 0 the join succeeded, 1 a step failed, 2 bad command line,\n"
    "130 interrupted (after cleaning up).\n";

namespace {

// Thrown at the next step boundary after an interrupt in --tcti mode.
struct Interrupted {};

// Handles the signals that ask a program to stop (SIGINT, SIGTERM, SIGHUP,
// SIGQUIT, SIGUSR1, SIGUSR2) on a thread of its own, through a signalfd:
// they are blocked in every thread, so a blocking TPM call never runs a
// handler. The guard's own end is an eventfd only the destructor writes, so
// no signal from outside can end it while the signals stay blocked.
//
// With a throwaway swtpm: stops it, removes its files and exits 130 at once
// (whatever the main thread is doing with that TPM no longer matters).
// With --tcti (a TPM that outlives us, maybe without a resource manager):
// asks the main thread to stop after its current TPM command, so that the
// session is closed and its AK flushed; interrupting again, or a TPM command
// that does not return within kGrace, exits at once, without that.
class InterruptGuard {
 public:
  static constexpr int kGraceMs = 30000;

  explicit InterruptGuard(ThrowawaySwtpm* swtpm) : swtpm_(swtpm) {
    sigemptyset(&set_);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&set_, sig);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    signal_fd_ = signalfd(-1, &set_, SFD_CLOEXEC);
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
    stderr_fd_ = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (signal_fd_ < 0 || stop_fd_ < 0) {
      Close();
      pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
      throw std::runtime_error("cannot set up signal handling (signalfd/eventfd failed)");
    }
    thread_ = std::thread([this] { Run(); });
  }

  ~InterruptGuard() {
    const uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof(one));
    thread_.join();
    Close();
    pthread_sigmask(SIG_UNBLOCK, &set_, nullptr);
  }

  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  bool interrupted() const { return interrupted_.load(); }

  // Throws Interrupted when an interrupt asked the main thread to stop.
  void CheckPoint() const {
    if (interrupted()) throw Interrupted{};
  }

 private:
  void Run() {
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int timeout_ms = -1;
    for (;;) {
      const int n = poll(fds, 2, timeout_ms);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;  // the destructor: normal end
      if (n == 0) {
        Say(("tpmjoin demo: the TPM command did not return within " +
             std::to_string(kGraceMs / 1000) +
             " s; quitting without closing the session (transient objects may stay loaded: "
             "tpm2_flushcontext -t)\n")
                .c_str());
        _exit(kExitInterrupted);
      }
      if (fds[0].revents == 0) continue;
      signalfd_siginfo info;
      if (read(signal_fd_, &info, sizeof(info)) != sizeof(info)) continue;
      if (swtpm_ != nullptr) {
        Say("\ninterrupted: stopping swtpm and removing its files\n");
        Silence();
        swtpm_->Cleanup();
        _exit(kExitInterrupted);
      }
      if (interrupted_.load()) {
        Say("interrupted again: quitting without closing the TPM session (transient objects "
            "may stay loaded: tpm2_flushcontext -t)\n");
        _exit(kExitInterrupted);
      }
      Say("\ninterrupted: closing the TPM session after the current TPM command (interrupt "
          "again to quit at once)\n");
      Silence();
      interrupted_.store(true);
      timeout_ms = kGraceMs;
    }
  }

  // Our own messages go to the original stderr, also after Silence().
  void Say(const char* text) const {
    const int fd = stderr_fd_ >= 0 ? stderr_fd_ : STDERR_FILENO;
    (void)!write(fd, text, strlen(text));
  }

  // After "interrupted" nothing else may reach the terminal: the main
  // thread's TPM calls fail (ESAPI logs to stderr) once swtpm is gone, and
  // its progress lines end with "failed".
  static void Silence() {
    const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_fd < 0) return;
    dup2(null_fd, STDERR_FILENO);
    close(null_fd);
  }

  void Close() {
    for (int* fd : {&signal_fd_, &stop_fd_, &stderr_fd_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }

  ThrowawaySwtpm* swtpm_;
  sigset_t set_;
  int signal_fd_ = -1;
  int stop_fd_ = -1;
  int stderr_fd_ = -1;
  std::atomic<bool> interrupted_{false};
  std::thread thread_;
};

struct Step {
  std::string name;
  double seconds;
};

// Runs `fn` under a progress line and records its duration. An interrupt
// (--tcti mode) stops the demo at the end of the step, never inside it.
template <typename Fn>
auto Timed(const InterruptGuard& guard, std::vector<Step>* steps, const std::string& name,
           Fn&& fn) {
  guard.CheckPoint();
  Progress progress(name);
  if constexpr (std::is_void_v<decltype(fn())>) {
    fn();
    steps->push_back({name, progress.Done()});
    guard.CheckPoint();
  } else {
    auto result = fn();
    steps->push_back({name, progress.Done()});
    guard.CheckPoint();
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

int RunDemo(const InterruptGuard& guard, const std::string& tcti_flag, bool ecc,
            ThrowawaySwtpm* swtpm) {
  std::vector<Step> steps;
  std::string tcti = tcti_flag;
  if (swtpm != nullptr) {
    Timed(guard, &steps, "Manufacturing a throwaway swtpm (EK certificates from a throwaway CA)",
          [&] { swtpm->Manufacture(); });
    Timed(guard, &steps, "Starting swtpm", [&] { swtpm->Start(); });
    tcti = swtpm->tcti();
  }
  std::printf("TPM: %s\n", tcti.c_str());
  const std::string algorithms =
      ecc ? R"({"ek_algorithm":"ecc","ak_algorithm":"ecc"})" : R"({"ek_algorithm":"rsa"})";
  const std::string config = TctiConfig(tcti, algorithms);

  const auto identity = Timed(guard, &steps, "Identifying the TPM (tpmjoin_identify)", [&] {
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
  Timed(guard, &steps, "Agent: opening a session (tpmjoin_session_open)",
        [&] { Check(tpmjoin_session_open(config.c_str(), &session.s)); });

  const std::string join_request = "demo RegisterUsingTokenRequest";
  OwnedBytes init;
  Timed(guard, &steps, "Agent: EK + certificate, new AK, TPM2_CertifyCreation (tpmjoin_join_begin)", [&] {
    Check(tpmjoin_join_begin(session.s, reinterpret_cast<const uint8_t*>(join_request.data()),
                             join_request.size(), init.out()));
  });
  ChallengeOwner challenge;
  OwnedBytes challenge_msg;
  Timed(guard, &steps, "Verifier: EK chain, allow rules, AK checks, MakeCredential "
                "(tpmjoin_verifier_challenge)",
        [&] {
          Check(tpmjoin_verifier_challenge(verifier.v, init.data(), init.size(), &challenge.c,
                                           challenge_msg.out()));
        });
  OwnedBytes answer;
  Timed(guard, &steps, "Agent: TPM2_ActivateCredential (tpmjoin_join_respond)", [&] {
    Check(tpmjoin_join_respond(session.s, challenge_msg.data(), challenge_msg.size(),
                               answer.out()));
  });
  OwnedBytes result;
  Timed(guard, &steps, "Verifier: checking the answer (tpmjoin_verifier_finish)", [&] {
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
    try {
      const int code = RunDemo(guard, tcti, ecc, nullptr);
      return guard.interrupted() ? kExitInterrupted : code;
    } catch (const Interrupted&) {
      // RunDemo's owners closed the session (its AK flushed) on the way out.
      return kExitInterrupted;
    }
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
    code = RunDemo(guard, "", ecc, &swtpm);
  } catch (...) {
    swtpm.Cleanup();
    throw;
  }
  swtpm.Cleanup();
  return code;
}

}  // namespace tpmjoin_cli
