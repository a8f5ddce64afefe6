// The outline the in-tree network methods (osor-sdxl, sdxl-inpaint) share, so that each of their files holds only
// its own options and image handling: the spec's options checked against the keys the method knows; the model built
// on --device in --dtype from the weights folder, or as random networks from the configs under it
// (RemoverContext::random_weights); noise=FILE read as recorded draws; pre- and postprocessing timed on the host
// clock around the model's own stages; every failure thrown as AdapterError naming the method (and the sample).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/remover.h"

namespace osor::adapters {

class NetworkRemover : public Remover {
 public:
  std::string id() const override { return spec_.text(); }
  void synchronize() override;

 protected:
  // AdapterError "method NAME: unknown option 'KEY' (k1, k2, ...)" for an option that is not in `option_keys`.
  NetworkRemover(const MethodSpec& spec, const RemoverContext& context, const std::vector<std::string>& option_keys);

  // Throws AdapterError("method NAME: " + problem).
  [[noreturn]] void refuse(const std::string& problem) const;

  // Runs the set-up (reading option files, building the model): an osor::Error other than an AdapterError comes
  // out as AdapterError("method NAME: " + its message).
  void set_up(const std::function<void()>& steps) const;

  // noise=FILE, the draws of a recorded run: the tensors named in `required` (AdapterError naming the file and the
  // first one it lacks) and those of `optional` that it holds, copied out of the read-only mapping.
  std::map<std::string, at::Tensor> read_noise(const std::string& file, const std::vector<std::string>& required,
                                               const std::vector<std::string>& optional = {}) const;

  // The model on --device in --dtype: load(device, dtype) from the weights folder, or with random weights
  // Model::random(weights folder, device, dtype, seed) — refused with `needs_files` when that is not empty (an
  // option given that only the real files can serve).
  template <class Model, class Load>
  std::unique_ptr<Model> build_model(const std::string& needs_files, const Load& load) {
    device_ = at::Device(context_.device);
    const at::ScalarType dtype = model_dtype(spec_.name, context_.dtype);
    if (!context_.random_weights) return std::make_unique<Model>(load(device_, dtype));
    if (!needs_files.empty()) refuse(needs_files);
    return std::make_unique<Model>(Model::random(context_.weights_dir, device_, dtype, context_.seed));
  }

  // One sample: `preprocess` and `postprocess` timed on the host clock (stages "preprocess" and "postprocess"),
  // `run` in between adding the model's own stages; a failure comes out as AdapterError naming method and sample.
  RemovalOutput timed_removal(const RemovalInput& input, const std::function<void()>& preprocess,
                              const std::function<void(RemovalOutput&)>& run,
                              const std::function<void(RemovalOutput&)>& postprocess) const;

  // The multi-step baselines' model-card protocol (sdxl-inpaint, flux-fill): image and mask to size × size with
  // Pillow's bicubic on 8-bit values, `run(image, mask, out)` there (it sets out.image at size × size and adds its
  // stages), the image back to the input's size the same way (to_u8 rounds as diffusers' numpy_to_pil does).
  RemovalOutput square_resized_removal(
      const RemovalInput& input, int64_t size,
      const std::function<void(const at::Tensor& image, const at::Tensor& mask, RemovalOutput& out)>& run) const;

 private:
  MethodSpec spec_;
  RemoverContext context_;
  at::Device device_{at::kCPU};  // where the model runs, once built
};

// Pillow's bicubic resize of 8-bit images ([N,C,H,W] uint8, bit-exact with Image.resize) to height × width, as
// float32 in [0,1]: how both methods' reference scripts hand images to and take them from the model.
at::Tensor pil_bicubic_resize(const at::Tensor& image_u8, int64_t height, int64_t width);

// Pillow's NEAREST resize of [N,C,H,W] (any dtype) to height × width: source index floor((i + 0.5) · in / out),
// how both OSOR scripts resize the mask.
at::Tensor pil_nearest_resize(const at::Tensor& image, int64_t height, int64_t width);

// The OSOR scripts' outputs at the input's size (OSOR-SDXL and OSOR-FLUX alike): the image ([1,3,h,w] in [0,1] at
// the processing size) truncated to 8 bits as (x·255).astype(uint8) and resized back with Pillow's bicubic; the
// alpha either the one at the processing size (`alpha_at_processing`: alpha_image) or the latent-grid `alpha`
// upsampled bilinearly, floored to 8-bit levels.
void set_osor_outputs(RemovalOutput& out, const at::Tensor& image, const at::Tensor& alpha,
                      const at::Tensor& alpha_image, bool alpha_at_processing, int64_t height, int64_t width);

}  // namespace osor::adapters
