// One registration function per subcommand, each in its own file under harness/cli/.
#pragma once

namespace CLI {
class App;
}

namespace osor::cli {

void add_score_command(CLI::App& app);
void add_list_command(CLI::App& app);

}  // namespace osor::cli
