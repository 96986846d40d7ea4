// A throwaway swtpm for `tpmjoin demo`: its own temp dir, its own two-level
// CA (swtpm_setup with a private swtpm-localca config), RSA and ECC EK
// certificates in NV, listening on a free local port pair. Everything it
// started and wrote is removed by Cleanup() (idempotent, callable from a
// signal-handling thread) and by the destructor.
#ifndef TPMJOIN_CLI_THROWAWAY_SWTPM_H_
#define TPMJOIN_CLI_THROWAWAY_SWTPM_H_

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tpmjoin_cli {

class ThrowawaySwtpm {
 public:
  // Creates the temp dir (nothing else yet).
  ThrowawaySwtpm();
  ~ThrowawaySwtpm();
  ThrowawaySwtpm(const ThrowawaySwtpm&) = delete;
  ThrowawaySwtpm& operator=(const ThrowawaySwtpm&) = delete;

  // Runs swtpm_setup (EK certificates from a fresh CA). Throws
  // std::runtime_error with the end of swtpm_setup's log on failure.
  void Manufacture();
  // Starts `swtpm socket` and waits until it accepts connections. Throws
  // std::runtime_error with the end of swtpm's log on failure.
  void Start();
  // Kills every process started here and removes the temp dir.
  void Cleanup();

  std::string tcti() const;
  std::string dir() const { return dir_; }
  std::string issuer_ca_pem() const;  // the CA that signed the EK certificates
  std::string root_ca_pem() const;

 private:
  // fork+exec in a new process group; stdout/stderr to `log`.
  pid_t Spawn(const std::vector<std::string>& argv, const std::string& log);

  std::mutex mu_;
  std::string dir_;
  std::vector<pid_t> children_;
  int port_ = 0;
  bool cleaned_ = false;
};

// Whether the programs the demo needs are on PATH.
bool SwtpmInstalled();

}  // namespace tpmjoin_cli

#endif  // TPMJOIN_CLI_THROWAWAY_SWTPM_H_
