// Precompiled header shared by every target (see cmake/OsorTorchTarget.cmake): ATen only. <torch/torch.h>
// (autograd, nn, optim, serialization) triples the cost of every translation unit, so only the .cpp
// files that define torch::nn modules include it themselves.
#pragma once
#include <ATen/ATen.h>
