#include "cli/progress.h"

#include <cstdio>

namespace tpmjoin_cli {

Progress::Progress(const std::string& label) : start_(std::chrono::steady_clock::now()) {
  std::fprintf(stderr, "%s ...", label.c_str());
  std::fflush(stderr);
  dots_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopped_; })) {
      std::fputc('.', stderr);
      std::fflush(stderr);
    }
  });
}

Progress::~Progress() { Stop("failed"); }

double Progress::Done() {
  Stop(nullptr);
  return seconds_;
}

void Progress::Stop(const char* outcome) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  cv_.notify_all();
  dots_.join();
  seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (outcome == nullptr) {
    std::fprintf(stderr, " %.3f s\n", seconds_);
  } else {
    std::fprintf(stderr, " %s after %.3f s\n", outcome, seconds_);
  }
}

}  // namespace tpmjoin_cli
