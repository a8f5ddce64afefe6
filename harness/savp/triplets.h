// SAVP's inputs: instruction-edit triplets and the detector's boxes.
//
// Triplets come from a JSONL manifest (one object per line: id, source, edited, instruction,
// kind = add | remove; paths relative to the manifest), a CSV manifest with the same columns (header
// row required), or a folder in the layout SAVP's own preparation writes: shot/<id>.* (I_obj) and
// bg/<id>.* (I_bg) paired by stem, with prompts.json {id: instruction} optional.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "harness/savp/anchoring.h"

namespace osor::harness::savp {

enum class EditKind { Add, Remove, Ordered };  // Ordered: a folder of already ordered shot/bg pairs
const char* kind_name(EditKind kind);

struct Triplet {
  std::string id;
  std::filesystem::path source, edited;
  std::string instruction;
  EditKind kind = EditKind::Remove;
  // The ordered pair (prepare_dataset.py): Add → source is I_bg, edited is I_obj; Remove → the
  // reverse. For Ordered, source is I_obj (shot/) and edited is I_bg (bg/).
  const std::filesystem::path& object_image() const { return kind == EditKind::Add ? edited : source; }
  const std::filesystem::path& background_image() const { return kind == EditKind::Add ? source : edited; }
};

// Reads a .jsonl/.csv manifest or a folder. Ids must be unique, usable as file names and free of control
// characters (< 0x20, 0x7f: they would split SAVP's one-path-per-line lists); errors name the file and line and
// quote the id escaped (a newline as \n).
std::vector<Triplet> read_triplets(const std::filesystem::path& path, const std::string& fallback_prompt);

// detections.jsonl: {"id", "boxes": [[x0, y0, x1, y1, score], ...]} per line, in pixels of I_obj; ids as in
// read_triplets (no control characters, no duplicates).
std::map<std::string, std::vector<Detection>> read_detections(const std::filesystem::path& path);

// The boxes of one detector answer: {"boxes": [...]} or a bare array; `where` names the source in errors.
std::vector<Detection> parse_boxes(const std::string& json_text, const std::string& where);

}  // namespace osor::harness::savp
