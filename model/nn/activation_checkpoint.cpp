#include "model/nn/activation_checkpoint.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <unordered_set>

#include "model/nn/autocast_state.h"
#include "model/nn/layers.h"

namespace osor::model::nn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What the autograd node keeps besides its saved tensors: the block, where the block's defined arguments and
// results sit in its argument and result lists, and the autocast settings of the forward. Held in the node's
// saved_data as a capsule (an IValue holds no std::function otherwise); it holds no tensor, so no reference cycle.
struct CheckpointRecord : torch::CustomClassHolder {
  CheckpointedBlock block;
  size_t argument_count = 0, result_count = 0;
  std::vector<size_t> argument_slots, result_slots;  // of the defined ones, in order
  size_t input_count = 0;  // the node's inputs: the defined arguments, then the trainable tensors
  AutocastState autocast;
};

// The block's forward autocast settings, with the cast cache off (see the header), until the guard ends.
class BlockAutocast {
 public:
  explicit BlockAutocast(AutocastState forward_state) : previous_(AutocastState::current()) {
    forward_state.cache_enabled = false;
    forward_state.make_current();
  }
  ~BlockAutocast() { previous_.make_current(); }
  BlockAutocast(const BlockAutocast&) = delete;
  BlockAutocast& operator=(const BlockAutocast&) = delete;

 private:
  AutocastState previous_;
};

// The block on its defined arguments (undefined tensors back in their slots); all its results.
variable_list run_block(const CheckpointRecord& r, const variable_list& defined_arguments) {
  std::vector<at::Tensor> arguments(r.argument_count);
  for (size_t i = 0; i < r.argument_slots.size(); ++i) arguments[r.argument_slots[i]] = defined_arguments[i];
  BlockAutocast autocast(r.autocast);
  return r.block(arguments);
}

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // Runs under no-grad (Function::apply): nothing inside the block is recorded. Returns the defined results.
  static variable_list forward(AutogradContext* ctx, const c10::intrusive_ptr<CheckpointRecord>& record,
                               at::TensorList node_inputs) {
    const variable_list arguments(node_inputs.begin(), node_inputs.begin() + static_cast<int64_t>(record->input_count));
    const variable_list results = run_block(*record, arguments);
    record->result_count = results.size();
    variable_list defined;
    for (size_t i = 0; i < results.size(); ++i) {
      if (!results[i].defined()) continue;
      record->result_slots.push_back(i);
      defined.push_back(results[i]);
    }
    ctx->save_for_backward(node_inputs.vec());
    ctx->saved_data["record"] = c10::IValue::make_capsule(record);
    ctx->set_materialize_grads(false);  // results without a gradient are skipped, not back-propagated as zeros
    return defined;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_results);
};

variable_list CheckpointFunction::backward(AutogradContext* ctx, variable_list grad_results) {
  const auto capsule = ctx->saved_data.at("record").toCapsule();
  const auto& record = static_cast<const CheckpointRecord&>(*capsule);
  const variable_list saved = ctx->get_saved_variables();
  // torch.utils.checkpoint: detached inputs with the originals' requires_grad, so that the recomputed graph starts
  // at them; the trainable tensors are used as they are (the block reaches them as module members).
  variable_list arguments(record.input_count);
  for (size_t i = 0; i < record.input_count; ++i)
    arguments[i] = saved[i].detach().requires_grad_(saved[i].requires_grad());
  variable_list results;
  {
    at::AutoGradMode grad_mode(true);
    results = run_block(record, arguments);
  }
  variable_list roots, root_grads;
  for (size_t k = 0; k < record.result_slots.size(); ++k) {
    const at::Tensor& r = results[record.result_slots[k]];
    if (r.requires_grad() && grad_results[k].defined()) {
      roots.push_back(r);
      root_grads.push_back(grad_results[k]);
    }
  }
  variable_list targets;
  std::vector<size_t> target_inputs;  // the node input of each target
  for (size_t i = 0; i < saved.size(); ++i) {
    const at::Tensor& t = i < record.input_count ? arguments[i] : saved[i];
    if (!t.requires_grad()) continue;
    targets.push_back(t);
    target_inputs.push_back(i);
  }
  // One gradient per forward argument: the record (none), then each node input.
  variable_list grads(1 + saved.size());
  if (roots.empty() || targets.empty()) return grads;
  const variable_list g = torch::autograd::grad(roots, targets, root_grads, /*retain_graph=*/false,
                                                /*create_graph=*/false, /*allow_unused=*/true);
  for (size_t k = 0; k < g.size(); ++k) grads[1 + target_inputs[k]] = g[k];
  return grads;
}

bool any_requires_grad(const std::vector<at::Tensor>& tensors) {
  return std::any_of(tensors.begin(), tensors.end(),
                     [](const at::Tensor& t) { return t.defined() && t.requires_grad(); });
}

}  // namespace

std::vector<at::Tensor> checkpointed(const CheckpointedBlock& block, const std::vector<at::Tensor>& inputs,
                                     const std::vector<at::Tensor>& trainable) {
  const bool recorded = at::GradMode::is_enabled() && (any_requires_grad(inputs) || any_requires_grad(trainable));
  if (!recorded) return block(inputs);
  auto record = c10::make_intrusive<CheckpointRecord>();
  record->block = block;
  record->argument_count = inputs.size();
  record->autocast = AutocastState::current();
  variable_list node_inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) continue;
    record->argument_slots.push_back(i);
    node_inputs.push_back(inputs[i]);
  }
  record->input_count = node_inputs.size();
  // A trainable tensor listed twice would receive its gradient twice.
  std::unordered_set<const void*> seen;
  for (const at::Tensor& t : trainable)
    if (t.defined() && t.requires_grad() && seen.insert(t.unsafeGetTensorImpl()).second) node_inputs.push_back(t);
  const variable_list defined = CheckpointFunction::apply(record, at::TensorList(node_inputs));
  std::vector<at::Tensor> results(record->result_count);
  for (size_t k = 0; k < defined.size(); ++k) results[record->result_slots[k]] = defined[k];
  return results;
}

std::vector<at::Tensor> checkpointed(const torch::nn::Module& module, const CheckpointedBlock& block,
                                     const std::vector<at::Tensor>& inputs) {
  return checkpointed(block, inputs, tensors_requiring_grad(module));
}

}  // namespace osor::model::nn
