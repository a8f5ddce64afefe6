#include "harness/savp/triplets.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "harness/error.h"
#include "harness/file_pairs.h"

namespace osor::harness::savp {
namespace fs = std::filesystem;

const char* kind_name(EditKind kind) {
  switch (kind) {
    case EditKind::Add: return "add";
    case EditKind::Remove: return "remove";
    default: return "ordered";
  }
}

namespace {

EditKind parse_kind(std::string k, const std::string& where) {
  for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (k == "add" || k == "add object") return EditKind::Add;
  if (k == "remove" || k == "remove object") return EditKind::Remove;
  throw HarnessError(where + ": kind '" + k + "' (expected add or remove)");
}

// Calls fn(line_json, "<file>:<line>") for every non-blank line of a JSON-lines file; a line that is not JSON is an
// error naming the file and the line.
template <typename Fn>
void for_each_json_line(const fs::path& path, const char* what, Fn&& fn) {
  std::ifstream in(path);
  if (!in) throw HarnessError(path.string() + ": cannot open the " + what);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path.string() + ":" + std::to_string(n);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw HarnessError(where + ": invalid JSON: " + e.what());
    }
    fn(j, where);
  }
}

// An "id" given as a string or as an integer.
std::string id_text(const nlohmann::json& id, const std::string& where) {
  if (id.is_number_integer()) return std::to_string(id.get<long long>());
  if (id.is_string()) return id.get<std::string>();
  throw HarnessError(where + ": \"id\" must be a string or an integer, got " + id.dump());
}

// The id with its control characters written out (\n, \t, \r, \xNN) and backslashes doubled, so an error
// message that quotes it stays one unambiguous line.
std::string escaped(const std::string& id) {
  std::string out;
  for (const char ch : id) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c == '\\') out += "\\\\";
    else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += ch;
    }
  }
  return out;
}

// SAVP's outputs are one-path-per-line lists (shot_list.txt, ...) and files named by id: a newline in an id would
// split a list entry in two, and other control characters make names no tool shows faithfully.
void reject_control_characters(const std::string& id, const std::string& where) {
  for (const char ch : id) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f)
      throw HarnessError(where + ": id '" + escaped(id) +
                         "' contains a control character (ids name files and lines of SAVP's list files)");
  }
}

void check_id(const std::string& id, const std::string& where, std::set<std::string>& seen) {
  reject_control_characters(id, where);
  if (id.empty() || id == "." || id == ".." || id.find('/') != std::string::npos || id.find('\\') != std::string::npos ||
      id[0] == '.')
    throw HarnessError(where + ": id '" + id + "' is not usable as a file name");
  if (!seen.insert(id).second) throw HarnessError(where + ": duplicate id '" + id + "'");
}

fs::path resolve(const fs::path& base, const std::string& p) {
  const fs::path path(p);
  return path.is_absolute() ? path : base / path;
}

// RFC 4180 fields: commas, double quotes ("" inside quotes), no embedded newlines.
std::vector<std::string> csv_fields(const std::string& line, const std::string& where) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else fields.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  if (quoted) throw HarnessError(where + ": unterminated quoted field");
  return fields;
}

std::vector<Triplet> read_jsonl(const fs::path& path, const std::string& fallback) {
  std::vector<Triplet> out;
  std::set<std::string> seen;
  for_each_json_line(path, "triplet manifest", [&](const nlohmann::json& j, const std::string& where) {
    Triplet t;
    try {
      t.id = id_text(j.at("id"), where);
      t.source = resolve(path.parent_path(), j.at("source").get<std::string>());
      t.edited = resolve(path.parent_path(), j.at("edited").get<std::string>());
      t.instruction = j.value("instruction", std::string());
      t.kind = parse_kind(j.at("kind").get<std::string>(), where);
    } catch (const nlohmann::json::exception& e) {
      throw HarnessError(where + ": " + e.what() + " (expected keys id, source, edited, instruction, kind)");
    }
    if (t.instruction.empty()) t.instruction = fallback;
    check_id(t.id, where, seen);
    out.push_back(std::move(t));
  });
  return out;
}

std::vector<Triplet> read_csv(const fs::path& path, const std::string& fallback) {
  std::ifstream in(path);
  if (!in) throw HarnessError(path.string() + ": cannot open the triplet manifest");
  std::string line;
  if (!std::getline(in, line)) throw HarnessError(path.string() + ": empty CSV manifest (a header row is required)");
  const std::vector<std::string> header = csv_fields(line, path.string() + ":1");
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  for (const char* need : {"id", "source", "edited", "kind"})
    if (!col.count(need))
      throw HarnessError(path.string() + ":1: header has no '" + need + "' column (expected id,source,edited,instruction,kind)");
  std::vector<Triplet> out;
  std::set<std::string> seen;
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path.string() + ":" + std::to_string(n);
    const std::vector<std::string> f = csv_fields(line, where);
    if (f.size() != header.size())
      throw HarnessError(where + ": " + std::to_string(f.size()) + " fields, header has " + std::to_string(header.size()));
    Triplet t;
    t.id = f[col["id"]];
    t.source = resolve(path.parent_path(), f[col["source"]]);
    t.edited = resolve(path.parent_path(), f[col["edited"]]);
    t.instruction = col.count("instruction") ? f[col["instruction"]] : std::string();
    if (t.instruction.empty()) t.instruction = fallback;
    t.kind = parse_kind(f[col["kind"]], where);
    check_id(t.id, where, seen);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<Triplet> read_folder(const fs::path& dir, const std::string& fallback) {
  if (!fs::is_directory(dir / "shot") || !fs::is_directory(dir / "bg"))
    throw HarnessError(dir.string() + ": a triplet folder needs shot/ (image with the object) and bg/ (without it)");
  std::map<std::string, fs::path> shots, bgs;
  for (const fs::path& p : list_images(dir / "shot")) shots[p.stem().string()] = p;
  for (const fs::path& p : list_images(dir / "bg")) bgs[p.stem().string()] = p;
  std::map<std::string, std::string> prompts;
  if (fs::exists(dir / "prompts.json")) {
    std::ifstream in(dir / "prompts.json");
    try {
      prompts = nlohmann::json::parse(in).get<std::map<std::string, std::string>>();
    } catch (const nlohmann::json::exception& e) {
      throw HarnessError((dir / "prompts.json").string() + ": expected {id: instruction}: " + e.what());
    }
  }
  std::vector<Triplet> out;
  for (const auto& [id, shot] : shots) {  // common stems only, sorted, as gpu_worker.load_dataset
    const auto bg = bgs.find(id);
    if (bg == bgs.end()) continue;
    reject_control_characters(id, (dir / "shot").string());  // the stem is the id; the folder has no lines
    Triplet t;
    t.id = id;
    t.source = shot;
    t.edited = bg->second;
    t.kind = EditKind::Ordered;
    const auto p = prompts.find(id);
    t.instruction = p != prompts.end() && !p->second.empty() ? p->second : fallback;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

std::vector<Triplet> read_triplets(const fs::path& path, const std::string& fallback_prompt) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw HarnessError(path.string() + ": file not found");
  if (fs::is_directory(path, ec)) return read_folder(path, fallback_prompt);
  const std::string ext = path.extension().string();
  if (ext == ".csv") return read_csv(path, fallback_prompt);
  return read_jsonl(path, fallback_prompt);
}

namespace {

// The boxes of a parsed detector answer: {"boxes": [...]} or the bare array.
std::vector<Detection> boxes_of(const nlohmann::json& j, const std::string& where) {
  const nlohmann::json& boxes = j.is_object() ? j.value("boxes", nlohmann::json::array()) : j;
  if (!boxes.is_array()) throw HarnessError(where + ": 'boxes' must be an array of [x0, y0, x1, y1, score]");
  std::vector<Detection> out;
  for (const auto& b : boxes) {
    if (!b.is_array() || b.size() != 5)
      throw HarnessError(where + ": each box must be [x0, y0, x1, y1, score], got " + b.dump());
    try {
      out.push_back({b[0].get<double>(), b[1].get<double>(), b[2].get<double>(), b[3].get<double>(), b[4].get<double>()});
    } catch (const nlohmann::json::exception& e) {
      throw HarnessError(where + ": box " + b.dump() + ": " + e.what());
    }
  }
  return out;
}

}  // namespace

std::vector<Detection> parse_boxes(const std::string& json_text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    throw HarnessError(where + ": invalid JSON: " + e.what());
  }
  return boxes_of(j, where);
}

std::map<std::string, std::vector<Detection>> read_detections(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw HarnessError(path.string() + ": file not found");
  std::map<std::string, std::vector<Detection>> out;
  for_each_json_line(path, "detections file", [&](const nlohmann::json& j, const std::string& where) {
    if (!j.is_object() || !j.contains("id")) throw HarnessError(where + ": expected {\"id\", \"boxes\": [...]}");
    const std::string id = id_text(j["id"], where);
    reject_control_characters(id, where);
    if (out.count(id)) throw HarnessError(where + ": duplicate id '" + id + "'");
    out[id] = boxes_of(j, where);
  });
  return out;
}

}  // namespace osor::harness::savp
