// Progress on stderr for steps that can take long (RSA key generation takes
// seconds on hardware TPMs): the label at once, a dot per second while the
// step runs, then its duration.
#ifndef TPMJOIN_CLI_PROGRESS_H_
#define TPMJOIN_CLI_PROGRESS_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace tpmjoin_cli {

class Progress {
 public:
  explicit Progress(const std::string& label);
  ~Progress();  // stops the dots (prints "failed" if Done() was not called)
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Marks success; returns the elapsed seconds.
  double Done();

 private:
  void Stop(const char* outcome);

  std::chrono::steady_clock::time_point start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  double seconds_ = 0;
  std::thread dots_;
};

}  // namespace tpmjoin_cli

#endif  // TPMJOIN_CLI_PROGRESS_H_
