// Activation checkpointing (PyTorch's torch.utils.checkpoint; diffusers' enable_gradient_checkpointing, which wraps
// the resnets and transformer blocks of the SDXL UNet and every block of the FLUX transformer): a block's forward
// runs without recording its intermediate activations, and backward runs the block once more, with gradients, to
// back-propagate through it. Memory for activations is traded for a second forward of the block; outputs and
// gradients are those of the plain forward, because the recomputation repeats the same operations on the same
// inputs under the same settings:
//  - inputs: saved at forward; the recomputation gets detached copies that require grad as the originals did;
//  - autocast (enabled and dtype on the CPU and CUDA, model/nn/autocast_state.h): the forward's settings are applied
//    again during the recomputation, whatever they are when backward runs (as torch.utils.checkpoint does).
//    Autocast's cast cache is off inside a checkpointed block: a weight cast cached by the no-grad forward has no
//    path to the weight, and a recomputation that reused it would lose that weight's gradient;
//  - random numbers are NOT saved and restored: OSOR's generator networks draw none in training (diffusers'
//    dropout is 0 in the SDXL UNet and absent in FLUX), so a block computes the same values twice.
// The reentrant variant (an autograd Function whose backward runs the engine on the recomputed graph): double
// backward through a checkpointed block (create_graph) is not supported, and an input changed in place between
// forward and backward is refused by autograd's version check.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <vector>

namespace torch::nn {
class Module;
}

namespace osor::model::nn {

// A block as a function of its tensor arguments (undefined tensors allowed) to its results.
using CheckpointedBlock = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)>;

// block(inputs), its activations recomputed in backward. `trainable`: the tensors requiring grad that the block
// uses other than through `inputs` (runtime LoRA adapters, trainable weights): they become inputs of the autograd
// node, so it is recorded even when no input requires grad (the first UNet block after a frozen conv_in) and their
// gradients reach them through the engine. `block` runs again during backward: it captures by value (modules by
// shared pointer) and receives every tensor that may require grad through `inputs`. With grad mode off, or when
// nothing requires grad, this is block(inputs): inference pays nothing.
std::vector<at::Tensor> checkpointed(const CheckpointedBlock& block, const std::vector<at::Tensor>& inputs,
                                     const std::vector<at::Tensor>& trainable);

// The same with the tensors requiring grad inside `module` (tensors_requiring_grad, model/nn/layers.h) as trainable.
std::vector<at::Tensor> checkpointed(const torch::nn::Module& module, const CheckpointedBlock& block,
                                     const std::vector<at::Tensor>& inputs);

}  // namespace osor::model::nn
