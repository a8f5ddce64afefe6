// CORNE-layout training data: the samples of a folder as `osor savp` writes it (and as CORNE / CORNE-Val are
// released), and one sample loaded with OSOR's resize policies.
//
// Discovery, in this order:
//  * list files, as the official configs name them (configs/phase{1,2}.yaml data.params): Phase I
//    shot_list.txt, bg_list.txt, mask_list.txt; Phase II shot_m_list.txt, bg_m_list.txt, mask-check_m_list.txt and
//    mask_sam_list.txt. Lines are paths relative to the folder (or absolute), paired by line, in list order.
//  * else folders paired by file stem, stems in byte order: shot/ (or input/), bg/ (or gt/), the training mask
//    mask_eff/ (or mask_effect/, mask/, mask_sam/; the first that exists, or the one named), and the SAM object-core
//    mask mask_sam/ when Phase II's "sam" degradation needs it. Any extension OpenCV reads.
// A stem that lacks a part, or whose parts' sizes disagree (read from the file headers), is a HarnessError naming
// the folder and the file.
//
// Loading (osor-*/src/data/dataset.py): image.convert('RGB') resized with LANCZOS, mask.convert('L') resized with
// NEAREST, both to one target size computed from the *shot's* size; tensors are value / 255 (masks are not
// thresholded, as the official loader). Pillow-exact resizes (metrics/resize.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace osor::harness::train {

enum class ResizePolicy {
  Sdxl,   // short side → `short_side` (up or down, the long side truncated), then each side ceiled to ×16
  Flux,   // native size, each side ceiled to ×16
  Fixed,  // every sample to fixed_height × fixed_width
};

struct ResizeOptions {
  ResizePolicy policy = ResizePolicy::Sdxl;
  int64_t short_side = 512;                    // Sdxl: dataset.py's `resolution`
  int64_t fixed_height = 0, fixed_width = 0;  // Fixed
};

// The training size {height, width} of an image of height × width, as dataset.py's _calculate_target_size.
std::pair<int64_t, int64_t> training_size(int64_t height, int64_t width, const ResizeOptions& options);

struct CorneSample {
  std::string stem;                                   // the file stem (list mode: the shot file's stem)
  std::filesystem::path shot, bg, mask, mask_sam;     // mask_sam empty unless asked for
  int64_t height = 0, width = 0;                      // the shot's size on disk
};

struct CorneLayoutOptions {
  int phase = 1;                // which list files to look for (1 or 2)
  bool with_sam = false;        // require a SAM object-core mask per sample (Phase II "sam" degradation)
  std::string mask_folder;      // folder mode: the training-mask folder; "" = the first of the defaults that exists
  bool use_lists = true;        // read the list files when they exist
};

// The samples under `root`. Throws HarnessError (no samples, a missing part, sizes that disagree, an unreadable
// header) naming the folder or file.
std::vector<CorneSample> discover_corne(const std::filesystem::path& root, const CorneLayoutOptions& options = {});

struct LoadedSample {
  at::Tensor shot, bg;     // [3,H,W] float32 in [0,1]
  at::Tensor mask;         // [1,H,W] float32 in [0,1] (value / 255)
  at::Tensor mask_sam;     // [1,H,W], or undefined when the sample has none
};

// One sample at training_size(shot size). Throws HarnessError naming the file that failed to decode.
LoadedSample load_corne_sample(const CorneSample& sample, const ResizeOptions& options);

}  // namespace osor::harness::train
