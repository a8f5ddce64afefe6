// Subcommands register themselves: each harness/cli/<name>.cpp defines a function that adds its
// subcommand to the app and registers it with OSOR_REGISTER_COMMAND, so adding a command touches no
// other file. main.cpp adds them in name order.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace osor::cli {

using AddCommand = void (*)(CLI::App& app);

std::vector<std::pair<std::string, AddCommand>>& registered_commands();

// Thrown by a command that finished its work but must exit non-zero (1: a check failed, e.g. a
// regression found or a benchmark incomplete); main() returns the code without printing an error.
struct ExitStatus {
  int code;
};

struct CommandRegistration {
  CommandRegistration(const char* name, AddCommand add) { registered_commands().emplace_back(name, add); }
};

}  // namespace osor::cli

#define OSOR_REGISTER_COMMAND(name, add_function) \
  static const ::osor::cli::CommandRegistration osor_command_registration_{name, add_function}
