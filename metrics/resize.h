// The resizers the network metrics' references use, in one place:
//  * PIL (Pillow ImagingResample, libImaging/Resample.c): separable, horizontal pass then vertical, the
//    filter support scaled by max(in/out, 1) (antialias on down-scaling), coefficients normalised to sum 1.
//    8-bit images use Pillow's fixed point (PRECISION_BITS = 22, 8-bit intermediate image, clipping) and
//    give Pillow's bytes exactly; float images follow mode 'F' (double accumulation, float32 storage), which
//    clean-fid uses. Bicubic is Pillow's a = -0.5 kernel (support 2), Lanczos a = 3.
//  * PyTorch bilinear, align_corners=False, with and without antialias (F.interpolate), as pytorch-fid
//    (no antialias) and torchmetrics >= 1.8 (antialias) call it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace osor::metrics {

enum class PilFilter { Bilinear, Bicubic, Lanczos };

// images: [N,C,H,W] or [C,H,W] uint8 → uint8 of size out_h × out_w, bit-exact with Pillow's
// Image.resize((out_w, out_h), filter) on 8-bit modes (L, RGB, RGBA). CPU.
at::Tensor pil_resize_u8(const at::Tensor& images, int64_t out_h, int64_t out_w, PilFilter filter);

// images: [N,C,H,W] or [C,H,W] uint8 (or bool) → the same dtype, as Pillow's Image.resize(..., NEAREST) (the
// default for modes "1" and "P"): ImagingScaleAffine, source index = int(x0 + (x + ½)·in/out) with the position
// accumulated in double as Pillow does (so a boundary falls where Pillow's does). CPU.
at::Tensor pil_resize_nearest_u8(const at::Tensor& images, int64_t out_h, int64_t out_w);

// images: [N,C,H,W] or [C,H,W] float (any scale) → float32, as Pillow's mode 'F' resize per channel. CPU.
at::Tensor pil_resize_float(const at::Tensor& images, int64_t out_h, int64_t out_w, PilFilter filter);

// images: [N,C,H,W] float → float of the same dtype and device, F.interpolate(mode='bilinear',
// align_corners=False, antialias=antialias). Identity when the size already matches.
at::Tensor torch_bilinear_resize(const at::Tensor& images, int64_t out_h, int64_t out_w, bool antialias);

}  // namespace osor::metrics
