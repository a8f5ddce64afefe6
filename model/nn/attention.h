// Scaled dot-product attention softmax(Q·Kᵀ·d^-½)·V over [B, heads, L, d] tensors.
// LibTorch ≥ 2.0: the fused at::scaled_dot_product_attention (flash / memory-efficient kernels on CUDA).
// LibTorch 1.13: a chunked fallback that walks (batch, head) pairs and blocks of queries so that at most one
// [query-block × keys] score matrix exists at a time (≤ ~64 MiB), which keeps the VAE's single-head attention
// over 128×128 latents (16384² scores = 1 GiB in fp32) affordable.
#pragma once

#include <ATen/core/Tensor.h>

namespace osor::model::nn {

at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// The chunked path, also on LibTorch 2.x (tests compare it with the fused one).
at::Tensor chunked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             int64_t max_score_elements = int64_t{1} << 24);

}  // namespace osor::model::nn
