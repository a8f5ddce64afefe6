#include "adapters/command_remover.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <sstream>

#include "adapters/error.h"
#include "adapters/registry.h"
#include "adapters/mat_tensor.h"

namespace fs = std::filesystem;

namespace osor::adapters {
namespace {

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

bool mentions(const std::vector<std::string>& argv, const std::string& key) {
  for (const auto& a : argv)
    if (a.find(key) != std::string::npos) return true;
  return false;
}

void write_png(const fs::path& path, const cv::Mat& mat) {
  fs::create_directories(path.parent_path());
  if (!cv::imwrite(path.string(), mat)) throw AdapterError("command: cannot write " + path.string());
}

double elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// The work folder's name: "command-" and 16 hex digits of the 64-bit FNV-1a hash of the method id. Never
// the label, which is the user's text: name=x/../../victim once made the clean-up below delete a folder
// outside the run. Methods with the same id share a folder, as they would share outputs.
std::string work_folder_name(const std::string& method_id) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : method_id) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return std::string("command-") + hex;
}

// Deletes `folder` only when it lies strictly inside `root` once both are resolved (symlinks, "..").
// A second guard behind work_folder_name: whatever a folder's name was built from, clean-up stays in the run.
void remove_inside(const fs::path& root, const fs::path& folder) {
  std::error_code ec_root, ec_folder;
  fs::path base = fs::weakly_canonical(root, ec_root);
  const fs::path inside = fs::weakly_canonical(folder, ec_folder);
  if (!base.has_filename()) base = base.parent_path();  // "work/" (not yet created) keeps its trailing '/'
  const auto [b, f] = std::mismatch(base.begin(), base.end(), inside.begin(), inside.end());
  if (ec_root || ec_folder || base.empty() || b != base.end() || f == inside.end())
    throw AdapterError("command: refusing to delete " + folder.string() + ": it is not inside the work folder " +
                       root.string());
  std::error_code ec;
  fs::remove_all(inside, ec);
}

// Runs the program once; "" when it exited 0, else why not (per-sample and folder mode alike). `ms`: its wall time.
std::string run_program(const std::vector<std::string>& argv, double timeout_s, double& ms) {
  const auto start = std::chrono::steady_clock::now();
  std::string failure;
  try {
    const CommandOutput result = run_command(argv, timeout_s);
    if (result.timed_out || result.exit_code != 0) failure = describe_failure(argv, result);
  } catch (const Error& e) {
    failure = e.what();
  }
  ms = elapsed_ms(start);
  return failure;
}

}  // namespace

CommandRemover::CommandRemover(const MethodSpec& spec, const RemoverContext& context) {
  for (const auto& [key, value] : spec.options)
    if (key != "argv" && key != "timeout" && key != "name")
      throw AdapterError("method command: unknown option '" + key + "' (options: argv, timeout, name)");
  argv_ = split_words(option_text(spec, "argv", ""));
  if (argv_.empty()) throw AdapterError("method command needs argv=PROGRAM ARGS... (see `osor list`)");
  timeout_s_ = option_number(spec, "timeout", 600);
  if (timeout_s_ <= 0) throw AdapterError("method command: timeout must be positive");
  name_ = method_label(spec);
  folder_mode_ = mentions(argv_, "{input_dir}") || mentions(argv_, "{output_dir}");
  if (!folder_mode_ && !mentions(argv_, "{output}"))
    throw AdapterError("method command: argv must name where to write, with {output} (per sample) or {output_dir}");
  root_dir_ = context.work_dir;
  if (root_dir_.empty()) {
    std::random_device rd;
    root_dir_ = fs::temp_directory_path() / ("osor-command-" + std::to_string(rd()));
  }
  work_dir_ = root_dir_ / work_folder_name(id());
}

std::string CommandRemover::id() const {
  std::string argv;
  for (const auto& a : argv_) argv += (argv.empty() ? "" : " ") + a;
  return "command:argv=" + argv;
}

fs::path CommandRemover::write_inputs(const RemovalInput& input) {
  const fs::path image = work_dir_ / "input" / (input.id + ".png");
  write_png(image, tensor_to_bgr8(input.image));
  write_png(work_dir_ / "mask" / (input.id + ".png"), mask_to_u8(input.mask));
  return image;
}

void CommandRemover::prepare(const std::vector<RemovalInput>& inputs) {
  if (!folder_mode_ || inputs.empty()) return;
  remove_inside(root_dir_, work_dir_);
  for (const auto& input : inputs) write_inputs(input);
  fs::create_directories(work_dir_ / "output");
  const auto argv = substitute(argv_, {{"input_dir", (work_dir_ / "input").string()},
                                       {"mask_dir", (work_dir_ / "mask").string()},
                                       {"output_dir", (work_dir_ / "output").string()}});
  double ms = 0;
  const std::string failure = run_program(argv, timeout_s_, ms);
  batch_latency_ms_ = ms / static_cast<double>(inputs.size());
  for (const auto& input : inputs) batch_failure_[input.id] = failure;
}

RemovalOutput CommandRemover::read_output(const RemovalInput& input, const fs::path& folder,
                                          const std::string& failure) const {
  if (!failure.empty()) throw AdapterError(name_ + ": sample " + input.id + ": " + failure);
  fs::path found;
  std::error_code ec;
  for (const char* ext : {".png", ".jpg", ".jpeg", ".webp", ".bmp"}) {
    if (fs::exists(folder / (input.id + ext), ec)) {
      found = folder / (input.id + ext);
      break;
    }
  }
  if (found.empty())
    throw AdapterError(name_ + ": sample " + input.id + ": the program wrote no output (" +
                       (folder / (input.id + ".png")).string() + ")");
  cv::Mat bgr;
  try {
    bgr = read_output_bgr8(found);
  } catch (const AdapterError& e) {
    throw AdapterError(name_ + ": sample " + input.id + ": " + e.what());
  }
  const int64_t h = input.image.size(2), w = input.image.size(3);
  if (bgr.rows != h || bgr.cols != w)
    throw AdapterError(name_ + ": sample " + input.id + ": output " + found.string() + " is " + std::to_string(bgr.rows) +
                       "x" + std::to_string(bgr.cols) + ", input is " + std::to_string(h) + "x" + std::to_string(w));
  RemovalOutput out;
  out.image = bgr8_to_tensor(bgr);
  return out;
}

RemovalOutput CommandRemover::remove(const RemovalInput& input) {
  if (folder_mode_) {
    const auto it = batch_failure_.find(input.id);
    if (it == batch_failure_.end()) prepare({input});
    RemovalOutput out = read_output(input, work_dir_ / "output", batch_failure_.at(input.id));
    out.latency_ms = batch_latency_ms_;
    return out;
  }
  const fs::path image = write_inputs(input);
  const fs::path output = work_dir_ / "output" / (input.id + ".png");
  std::error_code ec;
  fs::remove(output, ec);
  fs::create_directories(output.parent_path());
  const auto argv = substitute(argv_, {{"input", image.string()},
                                       {"mask", (work_dir_ / "mask" / (input.id + ".png")).string()},
                                       {"output", output.string()}});
  double latency = 0;
  const std::string failure = run_program(argv, timeout_s_, latency);
  RemovalOutput out = read_output(input, output.parent_path(), failure);
  out.latency_ms = latency;
  return out;
}

}  // namespace osor::adapters
