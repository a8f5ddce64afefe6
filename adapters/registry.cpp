#include "adapters/registry.h"

#include <cstddef>
#include <filesystem>
#include <type_traits>

#include "adapters/error.h"
#include "adapters/flux_fill.h"
#include "adapters/identity.h"
#include "adapters/omnieraser.h"
#include "adapters/omnipaint.h"
#include "adapters/osor_flux.h"
#include "adapters/osor_sdxl.h"
#include "adapters/sdxl_inpaint.h"
// The families that read or write image files are compiled only with OpenCV (adapters/CMakeLists.txt): without it
// their rows keep their facts but have no factory, and method_entries() leaves them out.
#if OSOR_WITH_OPENCV
#include "adapters/command_remover.h"
#include "adapters/opencv_inpaint.h"
#include "adapters/precomputed.h"
#define OSOR_OPENCV_FACTORY(factory) factory
#else
#define OSOR_OPENCV_FACTORY(factory) nullptr
#endif

namespace osor::adapters {
namespace {

#if OSOR_WITH_OPENCV
constexpr bool kBuiltWithOpenCv = true;
#else
constexpr bool kBuiltWithOpenCv = false;
#endif

// Column values, so that a row reads without counting commas.
constexpr bool kNeedsOpenCv = true, kNoOpenCv = false;
constexpr std::nullptr_t kNoDefaultLabel = nullptr;

// The factory of a family whose Remover is constructed from its spec, and the run's context when it takes one.
template <class R>
std::unique_ptr<Remover> construct(const MethodSpec& spec, const RemoverContext& context) {
  if constexpr (std::is_constructible_v<R, const MethodSpec&, const RemoverContext&>) {
    return std::make_unique<R>(spec, context);
  } else {
    return std::make_unique<R>(spec);
  }
}

// precomputed: the last component of dir= that is a name (not a {bench}/{masks} placeholder, "/", "." or "..").
std::string precomputed_label(const MethodSpec& spec) {
  std::string label;
  if (!spec.options.count("dir")) return label;
  for (const auto& part : std::filesystem::path(spec.options.at("dir")))
    if (!part.empty() && part != "/" && part.string().find('{') == std::string::npos && part != "." && part != "..")
      label = part.string();
  return label;
}

// command: the file name of the program argv= runs.
std::string command_label(const MethodSpec& spec) {
  if (!spec.options.count("argv")) return "";
  const std::string& argv = spec.options.at("argv");
  return std::filesystem::path(argv.substr(0, argv.find(' '))).filename().string();
}

// Every family, including those a build without OpenCV leaves out.
const std::vector<MethodEntry>& all_method_rows() {
  // Columns: name, summary with the options; needs OpenCV?, factory, default label.
  static const std::vector<MethodEntry> rows = {
      {"identity", "returns the input unchanged (lower bound)", kNoOpenCv, make_identity_remover, kNoDefaultLabel},
      {"opencv-telea", "cv::inpaint, Telea fast marching; options radius=3, dilate=0", kNeedsOpenCv,
       OSOR_OPENCV_FACTORY(make_opencv_telea_remover), kNoDefaultLabel},
      {"opencv-ns", "cv::inpaint, Navier-Stokes; options radius=3, dilate=0", kNeedsOpenCv,
       OSOR_OPENCV_FACTORY(make_opencv_ns_remover), kNoDefaultLabel},
      {"osor-sdxl",
       "OSOR one-step removal on SDXL-Inpainting (in-tree); options short_side=512, t=400, lora=merged|runtime, "
       "alpha=input|processing, noise=FILE, checkpoint=FILE (a trained state_dict.safetensors), channels_last=0, "
       "cuda_graphs=0",
       kNoOpenCv, make_osor_sdxl_remover, kNoDefaultLabel},
      {"osor-flux",
       "OSOR one-step removal on FLUX.1-Fill [dev] (in-tree); options long_side=1024, t=400, guidance=30, "
       "time=official|exact, lora=merged|runtime, alpha=input|processing, prompt=FILE, noise=FILE, checkpoint=FILE (a "
       "trained state_dict.safetensors)",
       kNoOpenCv, make_osor_flux_remover, kNoDefaultLabel},
      {"sdxl-inpaint",
       "SDXL-Inpainting multi-step baseline (in-tree, diffusers' pipeline); options steps=20, guidance=8, "
       "strength=0.99, size=1024, prompt=FILE, noise=FILE, channels_last=0",
       kNoOpenCv, make_sdxl_inpaint_remover, kNoDefaultLabel},
      {"flux-fill",
       "FLUX.1-Fill [dev] multi-step baseline (in-tree, diffusers' FluxFillPipeline); options steps=50, guidance=30, "
       "size=1024, prompt=FILE, noise=FILE",
       kNoOpenCv, make_flux_fill_remover, kNoDefaultLabel},
      {"omnipaint",
       "OmniPaint removal on FLUX.1 [dev] + its LoRA and shipped prompt (in-tree, OminiControl condition tokens); "
       "options steps=28, guidance=3.5, long_side=1024, prompt=FILE, noise=FILE",
       kNoOpenCv, make_omnipaint_remover, kNoDefaultLabel},
      {"omnieraser",
       "OmniEraser on FLUX.1 [dev] (in-tree: widened x_embedder + LoRA, control latents); options steps=28, "
       "guidance=3.5, size=1024, prompt=FILE, noise=FILE",
       kNoOpenCv, make_omnieraser_remover, kNoDefaultLabel},
      {"precomputed", "outputs of a method's official code: dir=PATH ({bench}, {masks} expanded), filter=cubic",
       kNeedsOpenCv, OSOR_OPENCV_FACTORY(construct<PrecomputedRemover>), precomputed_label},
      {"command",
       "an external program: argv=PROG ARGS with {input} {mask} {output} or {input_dir} {mask_dir} {output_dir}, "
       "timeout=600",
       kNeedsOpenCv, OSOR_OPENCV_FACTORY(construct<CommandRemover>), command_label},
  };
  return rows;
}

const MethodEntry* find_method(const std::vector<MethodEntry>& rows, const std::string& name) {
  for (const auto& e : rows)
    if (e.name == name) return &e;
  return nullptr;
}

const MethodEntry& method_row(const MethodSpec& spec) {
  if (const MethodEntry* row = find_method(method_entries(), spec.name)) return *row;
  std::string known;
  for (const auto& e : method_entries()) known += (known.empty() ? "" : ", ") + e.name;
  throw AdapterError("unknown method '" + spec.name + "' (known: " + known + ")");
}

}  // namespace

const std::vector<MethodEntry>& method_entries() {
  static const std::vector<MethodEntry> built = [] {
    std::vector<MethodEntry> rows;
    for (const MethodEntry& row : all_method_rows())
      if (kBuiltWithOpenCv || !row.needs_opencv) rows.push_back(row);
    return rows;
  }();
  return built;
}

void check_method_known(const MethodSpec& spec) { static_cast<void>(method_row(spec)); }

std::string method_label(const MethodSpec& spec) {
  if (!spec.label.empty()) return spec.label;
  if (spec.options.empty()) return spec.name;
  // Labels of runs made by another build are the same: the rows of families it leaves out still say theirs.
  const MethodEntry* row = find_method(all_method_rows(), spec.name);
  const std::string fallback = row != nullptr && row->default_label != nullptr ? row->default_label(spec) : "";
  try {
    if (!fallback.empty()) {
      validate_label(fallback);
      return fallback;
    }
  } catch (const AdapterError&) {
    // not a usable label (e.g. a control character in a folder name): the method text is
  }
  return spec.text();
}

std::unique_ptr<Remover> make_remover(const MethodSpec& spec, const RemoverContext& context) {
  return method_row(spec).make(spec, context);
}

}  // namespace osor::adapters
