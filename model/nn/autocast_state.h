// This thread's autocast settings (ATen/autocast_mode.h) on the device types OSOR runs on, read and applied as one
// value. AutocastScope (model/train/autocast_scope.h) sets them for mixed precision; activation checkpointing
// (model/nn/activation_checkpoint.h) applies a block's forward settings again while it recomputes the block in
// backward, as torch.utils.checkpoint does with torch.autocast. The one place that knows both LibTorch APIs: 1.13
// has one switch and one dtype per device family, 2.x takes the device type.
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace osor::model::nn {

struct AutocastState {
  struct PerDevice {
    bool enabled = false;
    c10::ScalarType dtype = c10::kFloat;  // the lower precision autocast casts eligible operations to
  };
  PerDevice cpu, cuda;
  // Autocast's cache of the casts of leaf tensors that require grad (weights), kept until the cache is cleared.
  bool cache_enabled = true;

  static AutocastState current();
  void make_current() const;
  // cpu or cuda; ModelError for other device types.
  PerDevice& of(c10::DeviceType type);
};

}  // namespace osor::model::nn
