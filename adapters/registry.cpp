#include "adapters/registry.h"

#include <filesystem>

#include "adapters/error.h"
#include "adapters/identity.h"
#include "adapters/osor_sdxl.h"
#include "adapters/sdxl_inpaint.h"
// Methods that read or write image files exist only in builds with OpenCV (adapters/CMakeLists.txt).
#if OSOR_WITH_OPENCV
#include "adapters/command.h"
#include "adapters/opencv_inpaint.h"
#include "adapters/precomputed.h"
#endif

namespace osor::adapters {

const std::vector<MethodEntry>& method_entries() {
  static const std::vector<MethodEntry> entries = {
      {"identity", "returns the input unchanged (lower bound)"},
#if OSOR_WITH_OPENCV
      {"opencv-telea", "cv::inpaint, Telea fast marching; options radius=3, dilate=0"},
      {"opencv-ns", "cv::inpaint, Navier-Stokes; options radius=3, dilate=0"},
#endif
      {"osor-sdxl", "OSOR one-step removal on SDXL-Inpainting (in-tree); options short_side=512, t=400, lora=merged|runtime, alpha=input|processing, noise=FILE, channels_last=0, cuda_graphs=0"},
      {"sdxl-inpaint", "SDXL-Inpainting multi-step baseline (in-tree, diffusers' pipeline); options steps=20, guidance=8, strength=0.99, size=1024, prompt=FILE, noise=FILE, channels_last=0"},
#if OSOR_WITH_OPENCV
      {"precomputed", "outputs of a method's official code: dir=PATH ({bench}, {masks} expanded), filter=cubic"},
      {"command", "an external program: argv=PROG ARGS with {input} {mask} {output} or {input_dir} {mask_dir} {output_dir}, timeout=600"},
#endif
  };
  return entries;
}

void check_method_known(const MethodSpec& spec) {
  std::string known;
  for (const auto& e : method_entries()) {
    if (e.name == spec.name) return;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  throw AdapterError("unknown method '" + spec.name + "' (known: " + known + ")");
}

std::string method_label(const MethodSpec& spec) {
  if (!spec.label.empty()) return spec.label;
  if (spec.options.empty()) return spec.name;
  std::string fallback;
  if (spec.name == "precomputed" && spec.options.count("dir")) {
    for (const auto& part : std::filesystem::path(spec.options.at("dir")))
      if (!part.empty() && part != "/" && part.string().find('{') == std::string::npos && part != "." && part != "..")
        fallback = part.string();
  } else if (spec.name == "command" && spec.options.count("argv")) {
    const std::string& argv = spec.options.at("argv");
    const std::string program = argv.substr(0, argv.find(' '));
    fallback = std::filesystem::path(program).filename().string();
  }
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
  if (spec.name == "identity") {
    if (!spec.options.empty()) throw AdapterError("method identity takes no options (got " + spec.text() + ")");
    return std::make_unique<IdentityRemover>();
  }
  if (spec.name == "osor-sdxl") return std::make_unique<OsorSdxlRemover>(spec, context);
  if (spec.name == "sdxl-inpaint") return std::make_unique<SdxlInpaintRemover>(spec, context);
#if OSOR_WITH_OPENCV
  if (spec.name == "opencv-telea")
    return std::make_unique<OpenCvInpaintRemover>(OpenCvInpaintRemover::Algorithm::Telea, spec);
  if (spec.name == "opencv-ns")
    return std::make_unique<OpenCvInpaintRemover>(OpenCvInpaintRemover::Algorithm::NavierStokes, spec);
  if (spec.name == "precomputed") return std::make_unique<PrecomputedRemover>(spec);
  if (spec.name == "command") return std::make_unique<CommandRemover>(spec, context);
#endif
  check_method_known(spec);
  throw AdapterError("method " + spec.name + " is not available in this build");
}

}  // namespace osor::adapters
