#include "cli/throwaway_swtpm.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "cli/abi_helpers.h"

namespace tpmjoin_cli {
namespace {

namespace fs = std::filesystem;

bool OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string dirs(path);
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = dirs.find(':', start);
    const std::string dir = dirs.substr(start, end == std::string::npos ? end : end - start);
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

// bind() (is the port free?) or connect() (is someone listening?) on a
// loopback TCP port.
template <typename Op>
bool OnLoopback(int port, Op op) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = op(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

bool PortFree(int port) { return OnLoopback(port, bind); }
bool Accepts(int port) { return OnLoopback(port, connect); }

// The swtpm TCTI finds the control channel at port + 1.
int FreePortPair() {
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> dist(20000 / 2, 60000 / 2);
  for (int i = 0; i < 200; ++i) {
    const int port = dist(rng) * 2;
    if (PortFree(port) && PortFree(port + 1)) return port;
  }
  throw std::runtime_error("no free local TCP port pair for swtpm");
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    return code == 127 ? "exit code 127: not found or not executable"
                       : "exit code " + std::to_string(code);
  }
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// SIGTERM to the whole group, SIGKILL after a second.
void StopProcessGroup(pid_t pid) {
  kill(-pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 50; ++i) {
    if (waitpid(pid, &status, WNOHANG) != 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid, SIGKILL);
  waitpid(pid, &status, 0);
}

// The end of a log file, for an error message: Cleanup() removes the file,
// so a message must carry the text itself, not point at it.
std::string LogTail(const std::string& path, size_t max_bytes = 3000) {
  std::string text;
  try {
    text = ReadFile(path);
  } catch (const std::exception&) {
    return "  (no log was written)";
  }
  bool cut = false;
  if (text.size() > max_bytes) {
    text.erase(0, text.size() - max_bytes);
    const size_t newline = text.find('\n');
    if (newline != std::string::npos) text.erase(0, newline + 1);
    cut = true;
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty()) return "  (its log is empty)";
  std::string indented = cut ? "  ...\n  " : "  ";
  for (char c : text) {
    indented.push_back(c);
    if (c == '\n') indented += "  ";
  }
  return indented;
}

void WriteFile(const fs::path& path, const std::string& contents) {
  std::ofstream out(path);
  out << contents;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

bool SwtpmInstalled() { return OnPath("swtpm") && OnPath("swtpm_setup") && OnPath("swtpm_localca"); }

ThrowawaySwtpm::ThrowawaySwtpm() {
  std::string tmpl = (fs::temp_directory_path() / "tpmjoin-demo-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
}

ThrowawaySwtpm::~ThrowawaySwtpm() { Cleanup(); }

pid_t ThrowawaySwtpm::Spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // swtpm_setup makes temp dirs of its own: keep them inside ours, so that
  // removing ours removes them even when it is killed mid-way. (The
  // environment is built before fork: the child may only call
  // async-signal-safe functions.)
  const std::string tmpdir = "TMPDIR=" + dir_;
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "TMPDIR=", 7) != 0) env.push_back(*e);
  }
  env.push_back(const_cast<char*>(tmpdir.c_str()));
  env.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    setpgid(0, 0);                     // its own group: we kill it whole,
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // it dies with us,
    sigset_t none;                     // and it gets the signals we block
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);

    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    execvpe(args[0], args.data(), env.data());
    _exit(127);
  }
  setpgid(pid, pid);
  std::lock_guard<std::mutex> lock(mu_);
  children_.push_back(pid);
  return pid;
}

void ThrowawaySwtpm::Manufacture() {
  const fs::path dir(dir_);
  fs::create_directories(dir / "state");
  fs::create_directories(dir / "ca");
  WriteFile(dir / "ca" / "localca.conf",
            "statedir = " + (dir / "ca").string() + "\n" +
                "signingkey = " + (dir / "ca" / "signkey.pem").string() + "\n" +
                "issuercert = " + (dir / "ca" / "issuercert.pem").string() + "\n" +
                "certserial = " + (dir / "ca" / "certserial").string() + "\n");
  WriteFile(dir / "ca" / "localca.options", "");
  WriteFile(dir / "swtpm_setup.conf",
            "create_certs_tool = /usr/bin/swtpm_localca\n"
            "create_certs_tool_config = " + (dir / "ca" / "localca.conf").string() + "\n" +
                "create_certs_tool_options = " + (dir / "ca" / "localca.options").string() +
                "\nactive_pcr_banks = sha256\n");
  const std::string log = (dir / "swtpm_setup.log").string();
  const pid_t pid = Spawn({"swtpm_setup", "--tpm2", "--tpmstate", (dir / "state").string(),
                           "--config", (dir / "swtpm_setup.conf").string(), "--create-ek-cert",
                           "--lock-nvram"},
                          log);
  int status = 0;
  waitpid(pid, &status, 0);
  {
    std::lock_guard<std::mutex> lock(mu_);
    children_.erase(std::remove(children_.begin(), children_.end(), pid), children_.end());
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("swtpm_setup failed (" + DescribeExit(status) +
                             "); the end of its log:\n" + LogTail(log));
  }
}

void ThrowawaySwtpm::Start() {
  const fs::path dir(dir_);
  constexpr int kAttempts = 5;  // another process may take the free ports first
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    port_ = FreePortPair();
    const pid_t pid = Spawn(
        {"swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + (dir / "state").string(),
         "--server", "type=tcp,port=" + std::to_string(port_) + ",bindaddr=127.0.0.1", "--ctrl",
         "type=tcp,port=" + std::to_string(port_ + 1) + ",bindaddr=127.0.0.1", "--flags",
         "not-need-init,startup-clear"},
        (dir / "swtpm.log").string());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      // Ready when both the control and the command port accept (swtpm
      // opens them one after the other).
      if (Accepts(port_ + 1) && Accepts(port_)) return;
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) break;  // lost the port race: retry
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    StopProcessGroup(pid);
    std::lock_guard<std::mutex> lock(mu_);
    children_.erase(std::remove(children_.begin(), children_.end(), pid), children_.end());
  }
  throw std::runtime_error("swtpm did not start (" + std::to_string(kAttempts) +
                           " attempts); the end of its log:\n" +
                           LogTail((dir / "swtpm.log").string()));
}

void ThrowawaySwtpm::Cleanup() {
  std::lock_guard<std::mutex> lock(mu_);
  if (cleaned_) return;
  cleaned_ = true;
  for (pid_t pid : children_) StopProcessGroup(pid);
  children_.clear();
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::string ThrowawaySwtpm::tcti() const {
  return "swtpm:host=127.0.0.1,port=" + std::to_string(port_);
}

std::string ThrowawaySwtpm::issuer_ca_pem() const {
  return ReadFile((fs::path(dir_) / "ca" / "issuercert.pem").string());
}

std::string ThrowawaySwtpm::root_ca_pem() const {
  return ReadFile((fs::path(dir_) / "ca" / "swtpm-localca-rootca-cert.pem").string());
}

}  // namespace tpmjoin_cli
