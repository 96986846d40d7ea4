// tpmjoin: identify a TPM for a join token, describe EK certificates, and
// show a whole TPM join working.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/abi_helpers.h"
#include "cli/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: tpmjoin <command> [options]\n"
    "\n"
    "TPM 2.0 machine joining (Teleport RFD 0166) with libtpmjoin.\n"
    "\n"
    "Commands:\n"
    "  identify   print this TPM's EK identity, for a join token's allow rule\n"
    "  ekinfo     describe an EK certificate or public key file, with an allow rule\n"
    "  demo       run a whole join (agent + verifier) against a throwaway swtpm\n"
    "\n"
    "Run 'tpmjoin <command> --help' for a command's options.\n"
    "\n"
    "Exit codes: 0 success, 1 the operation failed, 2 bad command line,\n"
    "130 interrupted.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace tpmjoin_cli;
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  const std::string command = argv[1];
  const Args args(argv + 2, argv + argc);
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (command == "--version") {
    std::printf("tpmjoin (libtpmjoin ABI %u)\n", tpmjoin_abi_version());
    return kExitOk;
  }
  struct {
    const char* name;
    int (*run)(const Args&);
    const char* help;
  } const commands[] = {
      {"identify", IdentifyCommand, kIdentifyHelp},
      {"ekinfo", EkInfoCommand, kEkInfoHelp},
      {"demo", DemoCommand, kDemoHelp},
  };
  for (const auto& c : commands) {
    if (command != c.name) continue;
    for (const auto& a : args) {
      if (a == "-h" || a == "--help") {
        std::fputs(c.help, stdout);
        return kExitOk;
      }
    }
    try {
      return c.run(args);
    } catch (const AbiError& e) {
      std::fprintf(stderr, "tpmjoin %s: %s (%s)\n", c.name, e.what(), StatusName(e.status));
      return kExitFailed;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "tpmjoin %s: %s\n", c.name, e.what());
      return kExitFailed;
    }
  }
  std::fprintf(stderr, "tpmjoin: unknown command \"%s\"\n\n%s", command.c_str(), kUsage);
  return kExitUsage;
}
