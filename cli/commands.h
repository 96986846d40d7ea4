// The CLI's commands. Each takes its arguments (after the command name) and
// returns an exit code (abi_helpers.h).
#ifndef TPMJOIN_CLI_COMMANDS_H_
#define TPMJOIN_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace tpmjoin_cli {

using Args = std::vector<std::string>;

int IdentifyCommand(const Args& args);
int EkInfoCommand(const Args& args);
int DemoCommand(const Args& args);

extern const char kIdentifyHelp[];
extern const char kEkInfoHelp[];
extern const char kDemoHelp[];

// The JSON config for the ABI: {"tcti": tcti} or "{}" when empty.
std::string TctiConfig(const std::string& tcti, const std::string& extra_json_members = "");

}  // namespace tpmjoin_cli

#endif  // TPMJOIN_CLI_COMMANDS_H_
