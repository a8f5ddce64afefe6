#include "model/train/checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <mutex>
#include <set>
#include <sstream>
#include <tuple>

#include "model/error.h"
#include "model/io/safetensors.h"

namespace osor::model::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kGeneratorFile = "state_dict.safetensors";
constexpr const char* kDiscriminatorFile = "discriminator.safetensors";
constexpr const char* kOptimizerFile = "optimizer.safetensors";
constexpr const char* kStateFile = "trainer_state.json";
constexpr const char* kFormat = "osor-training-checkpoint";
constexpr int kVersion = 1;

[[noreturn]] void fail(const fs::path& file, const std::string& problem) {
  throw ModelError("checkpoint file " + file.string() + ": " + problem);
}

// fsync a file or a folder, so that a rename that follows cannot be persisted before the data it names.
void sync_path(const fs::path& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open to sync: ") + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) fail(path, std::string("fsync failed: ") + std::strerror(saved));
}

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string from_hex(const fs::path& file, const std::string& name, const std::string& hex) {
  auto value = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    fail(file, "rng blob '" + name + "' is not lower-case hex");
  };
  if (hex.size() % 2 != 0) fail(file, "rng blob '" + name + "' has an odd number of hex digits");
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>(value(hex[2 * i]) * 16 + value(hex[2 * i + 1]));
  return out;
}

// "step-0001000" → 1000; -1 for any other name.
int64_t step_of_folder(const std::string& name) {
  const std::string prefix = "step-";
  if (name.size() < prefix.size() + 7 || name.compare(0, prefix.size(), prefix) != 0) return -1;
  const std::string digits = name.substr(prefix.size());
  if (digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stoll(digits);
}

bool is_complete(const fs::path& dir) {
  for (const char* file : {kGeneratorFile, kDiscriminatorFile, kOptimizerFile, kStateFile})
    if (!fs::is_regular_file(dir / file)) return false;
  return true;
}

void add_optimizer_tensors(const std::string& prefix, const NamedAdamWStates& states, NamedTensors& out) {
  for (const auto& [name, s] : states) {
    out.emplace_back(prefix + name + ".step", at::scalar_tensor(s.step, at::kLong));
    if (s.exp_avg.defined()) out.emplace_back(prefix + name + ".exp_avg", s.exp_avg);
    if (s.exp_avg_sq.defined()) out.emplace_back(prefix + name + ".exp_avg_sq", s.exp_avg_sq);
  }
}

json state_json(const TrainingState& state) {
  json rng = json::object();
  for (const auto& [name, blob] : state.rng) rng[name] = to_hex(blob);
  json config;
  try {
    config = json::parse(state.config_json);
  } catch (const json::exception& e) {
    throw ModelError(std::string("checkpoint: the run's config is not valid JSON: ") + e.what());
  }
  return {{"format", kFormat},
          {"version", kVersion},
          {"step", state.step},
          {"batch_count", state.batch_count},
          {"data_cursor", {{"epoch", state.data_epoch}, {"position", state.data_position}}},
          {"rng", rng},
          {"config", config}};
}

void write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) fail(path, "write failed (disk full?)");
}

// The four files into `dir`, trainer_state.json last, each fsynced, then the folder.
void write_checkpoint_files(const fs::path& dir, const TrainingState& state, const std::string& state_text) {
  write_safetensors(dir / kGeneratorFile, state.generator, state.generator_metadata);
  write_safetensors(dir / kDiscriminatorFile, state.discriminator);
  NamedTensors optimizer;
  add_optimizer_tensors("generator.", state.generator_optimizer, optimizer);
  add_optimizer_tensors("discriminator.", state.discriminator_optimizer, optimizer);
  write_safetensors(dir / kOptimizerFile, optimizer);
  for (const char* file : {kGeneratorFile, kDiscriminatorFile, kOptimizerFile}) sync_path(dir / file, false);
  write_text_file(dir / kStateFile, state_text);
  sync_path(dir / kStateFile, false);
  sync_path(dir, true);
}

// Temporary folders (".step-*.tmp<pid>", ".step-*.old<pid>") a crashed save left behind.
void remove_temporaries(const fs::path& root, const fs::path& keep) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path() == keep || name.rfind(".step-", 0) != 0) continue;
    if (name.find(".tmp") != std::string::npos || name.find(".old") != std::string::npos)
      fs::remove_all(entry.path(), ec);
  }
}

void prune(const fs::path& out_dir, int64_t keep_last) {
  if (keep_last <= 0) return;
  const std::vector<fs::path> all = complete_checkpoints(out_dir);
  for (size_t i = 0; i + static_cast<size_t>(keep_last) < all.size(); ++i) fs::remove_all(all[i]);
}

NamedTensors read_all(const fs::path& file) {
  if (!fs::is_regular_file(file)) fail(file, "missing (an incomplete checkpoint?)");
  const SafetensorsFile f = SafetensorsFile::open(file);
  NamedTensors out;
  for (const std::string& name : f.names()) out.emplace_back(name, f.tensor(name).clone());
  return out;
}


// optimizer.safetensors → the two optimizers' states, in file order; each entry checked against its parameter.
void split_optimizer(const fs::path& file, const NamedTensors& tensors, const TrainingState& state,
                     NamedAdamWStates& generator, NamedAdamWStates& discriminator) {
  std::map<std::string, size_t> g_index, d_index;
  auto slot = [&](const std::string& key) -> std::pair<AdamWState*, std::string> {
    for (const char* suffix : {".exp_avg_sq", ".exp_avg", ".step"}) {
      const std::string s = suffix;
      if (key.size() <= s.size() || key.compare(key.size() - s.size(), s.size(), s) != 0) continue;
      for (auto [prefix, states, index] : {std::make_tuple(std::string("generator."), &generator, &g_index),
                                           std::make_tuple(std::string("discriminator."), &discriminator, &d_index)}) {
        if (key.rfind(prefix, 0) != 0) continue;
        const std::string name = key.substr(prefix.size(), key.size() - prefix.size() - s.size());
        auto [it, added] = index->emplace(name, states->size());
        if (added) states->emplace_back(name, AdamWState{});
        return {&(*states)[it->second].second, s};
      }
    }
    fail(file, "unexpected tensor '" + key + "' (expected generator.|discriminator.<name>.step|exp_avg|exp_avg_sq)");
  };
  for (const auto& [key, t] : tensors) {
    auto [s, field] = slot(key);
    if (field == ".step") {
      if (t.numel() != 1 || t.scalar_type() != at::kLong) fail(file, "'" + key + "' is not an I64 scalar");
      s->step = t.item<int64_t>();
    } else {
      (field == ".exp_avg" ? s->exp_avg : s->exp_avg_sq) = t;
    }
  }
  auto check = [&](const NamedAdamWStates& states, const NamedTensors& params, const std::string& prefix) {
    std::map<std::string, at::Tensor> by_name(params.begin(), params.end());
    for (const auto& [name, s] : states) {
      const auto it = by_name.find(name);
      if (it == by_name.end()) fail(file, "optimizer state for '" + prefix + name + "', which the checkpoint does not hold");
      if (s.exp_avg.defined() != s.exp_avg_sq.defined()) fail(file, "'" + prefix + name + "' has only one moment");
      if (s.exp_avg.defined() && (s.exp_avg.sizes() != it->second.sizes() || s.exp_avg_sq.sizes() != it->second.sizes()))
        fail(file, "'" + prefix + name + "' moments have a shape other than the parameter's " +
                       c10::str(it->second.sizes()));
    }
  };
  check(generator, state.generator, "generator.");
  check(discriminator, state.discriminator, "discriminator.");
}

json read_state_json(const fs::path& file) {
  if (!fs::is_regular_file(file)) fail(file, "missing (an incomplete checkpoint?)");
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  json j;
  try {
    j = json::parse(text.str());
  } catch (const json::exception& e) {
    fail(file, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object() || j.value("format", "") != kFormat) fail(file, std::string("not an ") + kFormat + " file");
  if (j.value("version", 0) != kVersion)
    fail(file, "version " + j.value("version", json(0)).dump() + ", this build reads version " + std::to_string(kVersion));
  return j;
}

void read_state_fields(const fs::path& file, const json& j, TrainingState& state) {
  try {
    state.step = j.at("step").get<int64_t>();
    state.batch_count = j.at("batch_count").get<int64_t>();
    state.data_epoch = j.at("data_cursor").at("epoch").get<int64_t>();
    state.data_position = j.at("data_cursor").at("position").get<int64_t>();
    for (const auto& [name, hex] : j.at("rng").items()) state.rng[name] = from_hex(file, name, hex.get<std::string>());
    state.config_json = j.at("config").dump();
  } catch (const json::exception& e) {
    fail(file, std::string("missing or malformed field: ") + e.what());
  }
}

}  // namespace

std::string checkpoint_folder_name(int64_t step) {
  if (step < 0) throw ModelError("checkpoint: negative step " + std::to_string(step));
  std::string digits = std::to_string(step);
  if (digits.size() < 7) digits.insert(0, 7 - digits.size(), '0');
  return "step-" + digits;
}

fs::path save_checkpoint(const fs::path& out_dir, const TrainingState& state, int64_t keep_last) {
  const fs::path root = out_dir / "checkpoints";
  fs::create_directories(root);
  const std::string name = checkpoint_folder_name(state.step);
  const std::string state_text = state_json(state).dump(2) + "\n";  // first: a bad config fails before any write
  const std::string pid = std::to_string(::getpid());
  const fs::path tmp = root / ("." + name + ".tmp" + pid);
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  write_checkpoint_files(tmp, state, state_text);
  const fs::path final_dir = root / name;
  if (fs::exists(final_dir)) fs::rename(final_dir, root / ("." + name + ".old" + pid));
  fs::rename(tmp, final_dir);
  sync_path(root, true);
  remove_temporaries(root, fs::path());
  prune(out_dir, keep_last);
  return final_dir;
}

std::vector<fs::path> complete_checkpoints(const fs::path& out_dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(out_dir / "checkpoints", ec)) {
    const int64_t step = step_of_folder(entry.path().filename().string());
    if (step >= 0 && entry.is_directory() && is_complete(entry.path())) found.emplace_back(step, entry.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> out;
  for (auto& [step, path] : found) out.push_back(std::move(path));
  return out;
}

std::optional<fs::path> latest_checkpoint(const fs::path& out_dir) {
  const std::vector<fs::path> all = complete_checkpoints(out_dir);
  if (all.empty()) return std::nullopt;
  return all.back();
}

}  // namespace osor::model::train

namespace osor::model::train {

TrainingState load_checkpoint(const fs::path& dir) {
  if (!fs::is_directory(dir)) fail(dir, "not a folder");
  TrainingState state;
  const json j = read_state_json(dir / kStateFile);
  read_state_fields(dir / kStateFile, j, state);
  state.generator = read_all(dir / kGeneratorFile);
  state.generator_metadata = SafetensorsFile::open(dir / kGeneratorFile).metadata();
  state.discriminator = read_all(dir / kDiscriminatorFile);
  split_optimizer(dir / kOptimizerFile, read_all(dir / kOptimizerFile), state, state.generator_optimizer,
                  state.discriminator_optimizer);
  return state;
}

void restore_tensors(const std::string& file, const NamedTensors& live, const NamedTensors& stored) {
  std::map<std::string, const at::Tensor*> by_name;
  for (const auto& [name, t] : stored) by_name[name] = &t;
  std::set<std::string> live_names;
  for (const auto& [name, t] : live) {
    live_names.insert(name);
    const auto it = by_name.find(name);
    if (it == by_name.end()) fail(file, "has no tensor '" + name + "'");
    if (it->second->sizes() != t.sizes())
      fail(file, "tensor '" + name + "' has shape " + c10::str(it->second->sizes()) + ", expected " +
                     c10::str(t.sizes()));
  }
  for (const auto& [name, t] : stored)
    if (!live_names.count(name)) fail(file, "unexpected tensor '" + name + "' (not a parameter of this model)");
  c10::NoGradGuard no_grad;
  for (const auto& [name, t] : live) t.copy_(*by_name.at(name));
}

void restore_adamw(const std::string& file, AdamW& optimizer, const NamedAdamWStates& stored) {
  std::map<std::string, const AdamWState*> by_name;
  for (const auto& [name, s] : stored) by_name[name] = &s;
  std::set<std::string> names;
  for (const auto& [name, p] : optimizer.params()) {
    names.insert(name);
    const auto it = by_name.find(name);
    if (it == by_name.end()) fail(file, "has no optimizer state for '" + name + "'");
    if (it->second->exp_avg.defined() && it->second->exp_avg.sizes() != p.sizes())
      fail(file, "optimizer state of '" + name + "' has shape " + c10::str(it->second->exp_avg.sizes()) +
                     ", expected " + c10::str(p.sizes()));
  }
  for (const auto& [name, s] : stored)
    if (!names.count(name)) fail(file, "optimizer state for '" + name + "', which is not a trained parameter");
  for (const auto& [name, p] : optimizer.params()) {
    const AdamWState& s = *by_name.at(name);
    AdamWState& target = optimizer.state(name);
    target.step = s.step;
    const auto options = p.options().requires_grad(false);
    target.exp_avg = s.exp_avg.defined() ? s.exp_avg.to(options, false, true) : at::Tensor();
    target.exp_avg_sq = s.exp_avg_sq.defined() ? s.exp_avg_sq.to(options, false, true) : at::Tensor();
  }
}

NamedAdamWStates adamw_states(AdamW& optimizer) {
  NamedAdamWStates out;
  for (const auto& [name, p] : optimizer.params()) out.emplace_back(name, optimizer.state(name));
  return out;
}

}  // namespace osor::model::train

namespace osor::model::train {

std::string cpu_generator_state() {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  const at::Tensor state = generator.get_state().contiguous();
  return std::string(static_cast<const char*>(state.data_ptr()), state.nbytes());
}

void set_cpu_generator_state(const std::string& blob) {
  at::Tensor state = at::empty({static_cast<int64_t>(blob.size())}, at::kByte);
  std::memcpy(state.data_ptr(), blob.data(), blob.size());
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);  // checks the size itself (c10::Error)
}

std::string mt19937_64_state(const std::mt19937_64& rng) {
  std::ostringstream text;
  text << rng;
  return text.str();
}

void set_mt19937_64_state(std::mt19937_64& rng, const std::string& blob, const std::string& what) {
  std::istringstream text(blob);
  std::mt19937_64 restored;
  text >> restored;
  if (text.fail()) throw ModelError("checkpoint: rng blob '" + what + "' is not an mt19937_64 state");
  rng = restored;
}

}  // namespace osor::model::train
