// command: an external program as a removal method, run from an argument vector (no shell). Options:
//   argv=PROGRAM ARG...  split on spaces. Placeholders:
//       per-sample mode: {input} {mask} {output} — one invocation per sample (latency = its wall time);
//       folder mode:     {input_dir} {mask_dir} {output_dir} — one invocation for all samples, outputs read
//                        as <output_dir>/<id>.<png|jpg|...>; latency = total wall time / number of samples.
//     Inputs are written as 8-bit PNG, masks as 8-bit PNG with white (255) = remove, under
//     <work dir>/command-<16 hex digits of a hash of the method id>/ (never a name from the label).
//   timeout=SECONDS      per invocation (default 600); a program still running is killed
//   name=LABEL           the method's name in tables (default: the program's file name)
// Per-sample failures (program missing, non-zero exit, timeout, missing or wrong-size output) are thrown as
// AdapterError with the reason and the last line of the program's stderr.
#pragma once

#include <map>
#include <memory>

#include "adapters/subprocess.h"
#include "adapters/remover.h"

namespace osor::adapters {

class CommandRemover final : public Remover {
 public:
  CommandRemover(const MethodSpec& spec, const RemoverContext& context);
  std::string id() const override;
  void prepare(const std::vector<RemovalInput>& inputs) override;
  bool processes_folders() const override { return folder_mode_; }
  RemovalOutput remove(const RemovalInput& input) override;

 private:
  std::filesystem::path write_inputs(const RemovalInput& input);
  RemovalOutput read_output(const RemovalInput& input, const std::filesystem::path& folder,
                            const std::string& failure) const;

  std::vector<std::string> argv_;
  double timeout_s_ = 600;
  std::string name_;
  bool folder_mode_ = false;
  std::filesystem::path root_dir_;  // the run's work dir (context.work_dir, else a fresh temp folder)
  std::filesystem::path work_dir_;  // this method's folder inside it, named by work_folder_name (command.cpp)
  // Folder mode: the outcome of the one invocation, per prepared sample id.
  std::map<std::string, std::string> batch_failure_;
  double batch_latency_ms_ = -1;
};

}  // namespace osor::adapters
