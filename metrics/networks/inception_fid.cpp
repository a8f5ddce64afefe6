#include "metrics/networks/inception_fid.h"

#include <torch/torch.h>

#include "metrics/eight_bit.h"
#include "metrics/error.h"
#include "metrics/networks/inference_setup.h"
#include "metrics/resize.h"
#include "model/io/module_weights.h"

namespace osor::metrics {

namespace nn = torch::nn;

namespace {

// Set while flops_per_image() traces one forward; each conv adds its multiply-adds × 2.
thread_local double* g_flop_counter = nullptr;

// torchvision BasicConv2d: conv without bias → BatchNorm (eps 1e-3, TF's value) → ReLU.
struct BasicConv2dImpl : nn::Module {
  BasicConv2dImpl(int64_t in, int64_t out, int64_t kh, int64_t kw, int64_t sh = 1, int64_t sw = 1, int64_t ph = 0,
                  int64_t pw = 0) {
    conv = register_module(
        "conv", nn::Conv2d(nn::Conv2dOptions(in, out, {kh, kw}).stride({sh, sw}).padding({ph, pw}).bias(false)));
    bn = register_module("bn", nn::BatchNorm2d(nn::BatchNorm2dOptions(out).eps(0.001)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = conv->forward(x);
    if (g_flop_counter) *g_flop_counter += 2.0 * static_cast<double>(y.numel()) * static_cast<double>(conv->weight[0].numel());
    return torch::relu(bn->forward(y));
  }
  nn::Conv2d conv{nullptr};
  nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(BasicConv2d);

// TF's average pool ignores the padding in its divisor (pytorch-fid's FIDInception* patch).
torch::Tensor tf_avg_pool(const torch::Tensor& x) {
  return torch::avg_pool2d(x, 3, 1, 1, /*ceil_mode=*/false, /*count_include_pad=*/false);
}

struct InceptionAImpl : nn::Module {
  InceptionAImpl(int64_t in, int64_t pool_features) {
    branch1x1 = register_module("branch1x1", BasicConv2d(in, 64, 1, 1));
    branch5x5_1 = register_module("branch5x5_1", BasicConv2d(in, 48, 1, 1));
    branch5x5_2 = register_module("branch5x5_2", BasicConv2d(48, 64, 5, 5, 1, 1, 2, 2));
    branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(in, 64, 1, 1));
    branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(64, 96, 3, 3, 1, 1, 1, 1));
    branch3x3dbl_3 = register_module("branch3x3dbl_3", BasicConv2d(96, 96, 3, 3, 1, 1, 1, 1));
    branch_pool = register_module("branch_pool", BasicConv2d(in, pool_features, 1, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::cat({branch1x1(x), branch5x5_2(branch5x5_1(x)), branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))),
                       branch_pool(tf_avg_pool(x))},
                      1);
  }
  BasicConv2d branch1x1{nullptr}, branch5x5_1{nullptr}, branch5x5_2{nullptr}, branch3x3dbl_1{nullptr},
      branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr}, branch_pool{nullptr};
};
TORCH_MODULE(InceptionA);

struct InceptionBImpl : nn::Module {
  explicit InceptionBImpl(int64_t in) {
    branch3x3 = register_module("branch3x3", BasicConv2d(in, 384, 3, 3, 2, 2));
    branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(in, 64, 1, 1));
    branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(64, 96, 3, 3, 1, 1, 1, 1));
    branch3x3dbl_3 = register_module("branch3x3dbl_3", BasicConv2d(96, 96, 3, 3, 2, 2));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::cat({branch3x3(x), branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))), torch::max_pool2d(x, 3, 2)}, 1);
  }
  BasicConv2d branch3x3{nullptr}, branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr};
};
TORCH_MODULE(InceptionB);

struct InceptionCImpl : nn::Module {
  InceptionCImpl(int64_t in, int64_t c7) {
    branch1x1 = register_module("branch1x1", BasicConv2d(in, 192, 1, 1));
    branch7x7_1 = register_module("branch7x7_1", BasicConv2d(in, c7, 1, 1));
    branch7x7_2 = register_module("branch7x7_2", BasicConv2d(c7, c7, 1, 7, 1, 1, 0, 3));
    branch7x7_3 = register_module("branch7x7_3", BasicConv2d(c7, 192, 7, 1, 1, 1, 3, 0));
    branch7x7dbl_1 = register_module("branch7x7dbl_1", BasicConv2d(in, c7, 1, 1));
    branch7x7dbl_2 = register_module("branch7x7dbl_2", BasicConv2d(c7, c7, 7, 1, 1, 1, 3, 0));
    branch7x7dbl_3 = register_module("branch7x7dbl_3", BasicConv2d(c7, c7, 1, 7, 1, 1, 0, 3));
    branch7x7dbl_4 = register_module("branch7x7dbl_4", BasicConv2d(c7, c7, 7, 1, 1, 1, 3, 0));
    branch7x7dbl_5 = register_module("branch7x7dbl_5", BasicConv2d(c7, 192, 1, 7, 1, 1, 0, 3));
    branch_pool = register_module("branch_pool", BasicConv2d(in, 192, 1, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor b7 = branch7x7_3(branch7x7_2(branch7x7_1(x)));
    torch::Tensor b7d = branch7x7dbl_5(branch7x7dbl_4(branch7x7dbl_3(branch7x7dbl_2(branch7x7dbl_1(x)))));
    return torch::cat({branch1x1(x), b7, b7d, branch_pool(tf_avg_pool(x))}, 1);
  }
  BasicConv2d branch1x1{nullptr}, branch7x7_1{nullptr}, branch7x7_2{nullptr}, branch7x7_3{nullptr},
      branch7x7dbl_1{nullptr}, branch7x7dbl_2{nullptr}, branch7x7dbl_3{nullptr}, branch7x7dbl_4{nullptr},
      branch7x7dbl_5{nullptr}, branch_pool{nullptr};
};
TORCH_MODULE(InceptionC);

struct InceptionDImpl : nn::Module {
  explicit InceptionDImpl(int64_t in) {
    branch3x3_1 = register_module("branch3x3_1", BasicConv2d(in, 192, 1, 1));
    branch3x3_2 = register_module("branch3x3_2", BasicConv2d(192, 320, 3, 3, 2, 2));
    branch7x7x3_1 = register_module("branch7x7x3_1", BasicConv2d(in, 192, 1, 1));
    branch7x7x3_2 = register_module("branch7x7x3_2", BasicConv2d(192, 192, 1, 7, 1, 1, 0, 3));
    branch7x7x3_3 = register_module("branch7x7x3_3", BasicConv2d(192, 192, 7, 1, 1, 1, 3, 0));
    branch7x7x3_4 = register_module("branch7x7x3_4", BasicConv2d(192, 192, 3, 3, 2, 2));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::cat({branch3x3_2(branch3x3_1(x)), branch7x7x3_4(branch7x7x3_3(branch7x7x3_2(branch7x7x3_1(x)))),
                       torch::max_pool2d(x, 3, 2)},
                      1);
  }
  BasicConv2d branch3x3_1{nullptr}, branch3x3_2{nullptr}, branch7x7x3_1{nullptr}, branch7x7x3_2{nullptr},
      branch7x7x3_3{nullptr}, branch7x7x3_4{nullptr};
};
TORCH_MODULE(InceptionD);

// InceptionE: Mixed_7b pools with the padding-excluding average (FIDInceptionE_1), Mixed_7c with a max pool
// (FIDInceptionE_2: a quirk of the TF graph that pytorch-fid reproduces).
struct InceptionEImpl : nn::Module {
  InceptionEImpl(int64_t in, bool max_pool_branch) : max_pool(max_pool_branch) {
    branch1x1 = register_module("branch1x1", BasicConv2d(in, 320, 1, 1));
    branch3x3_1 = register_module("branch3x3_1", BasicConv2d(in, 384, 1, 1));
    branch3x3_2a = register_module("branch3x3_2a", BasicConv2d(384, 384, 1, 3, 1, 1, 0, 1));
    branch3x3_2b = register_module("branch3x3_2b", BasicConv2d(384, 384, 3, 1, 1, 1, 1, 0));
    branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(in, 448, 1, 1));
    branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(448, 384, 3, 3, 1, 1, 1, 1));
    branch3x3dbl_3a = register_module("branch3x3dbl_3a", BasicConv2d(384, 384, 1, 3, 1, 1, 0, 1));
    branch3x3dbl_3b = register_module("branch3x3dbl_3b", BasicConv2d(384, 384, 3, 1, 1, 1, 1, 0));
    branch_pool = register_module("branch_pool", BasicConv2d(in, 192, 1, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor b3 = branch3x3_1(x);
    b3 = torch::cat({branch3x3_2a(b3), branch3x3_2b(b3)}, 1);
    torch::Tensor bd = branch3x3dbl_2(branch3x3dbl_1(x));
    bd = torch::cat({branch3x3dbl_3a(bd), branch3x3dbl_3b(bd)}, 1);
    torch::Tensor pooled = max_pool ? torch::max_pool2d(x, 3, 1, 1) : tf_avg_pool(x);
    return torch::cat({branch1x1(x), b3, bd, branch_pool(pooled)}, 1);
  }
  bool max_pool;
  BasicConv2d branch1x1{nullptr}, branch3x3_1{nullptr}, branch3x3_2a{nullptr}, branch3x3_2b{nullptr},
      branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr}, branch3x3dbl_3a{nullptr}, branch3x3dbl_3b{nullptr},
      branch_pool{nullptr};
};
TORCH_MODULE(InceptionE);

// Registered under torchvision Inception3's attribute names, so named_parameters() are pytorch-fid's keys.
struct FidInceptionV3Impl : nn::Module {
  FidInceptionV3Impl() {
    Conv2d_1a_3x3 = register_module("Conv2d_1a_3x3", BasicConv2d(3, 32, 3, 3, 2, 2));
    Conv2d_2a_3x3 = register_module("Conv2d_2a_3x3", BasicConv2d(32, 32, 3, 3));
    Conv2d_2b_3x3 = register_module("Conv2d_2b_3x3", BasicConv2d(32, 64, 3, 3, 1, 1, 1, 1));
    Conv2d_3b_1x1 = register_module("Conv2d_3b_1x1", BasicConv2d(64, 80, 1, 1));
    Conv2d_4a_3x3 = register_module("Conv2d_4a_3x3", BasicConv2d(80, 192, 3, 3));
    Mixed_5b = register_module("Mixed_5b", InceptionA(192, 32));
    Mixed_5c = register_module("Mixed_5c", InceptionA(256, 64));
    Mixed_5d = register_module("Mixed_5d", InceptionA(288, 64));
    Mixed_6a = register_module("Mixed_6a", InceptionB(288));
    Mixed_6b = register_module("Mixed_6b", InceptionC(768, 128));
    Mixed_6c = register_module("Mixed_6c", InceptionC(768, 160));
    Mixed_6d = register_module("Mixed_6d", InceptionC(768, 160));
    Mixed_6e = register_module("Mixed_6e", InceptionC(768, 192));
    Mixed_7a = register_module("Mixed_7a", InceptionD(768));
    Mixed_7b = register_module("Mixed_7b", InceptionE(1280, false));
    Mixed_7c = register_module("Mixed_7c", InceptionE(2048, true));
  }
  // x: [N,3,299,299] in [-1,1] → pool3 [N,2048]; `taps` collects named intermediates when non-null.
  torch::Tensor forward(torch::Tensor x, std::vector<std::pair<std::string, torch::Tensor>>* taps = nullptr) {
    auto tap = [&](const char* name, const torch::Tensor& t) {
      if (taps) taps->emplace_back(name, t);
    };
    x = Conv2d_2b_3x3(Conv2d_2a_3x3(Conv2d_1a_3x3(x)));
    x = torch::max_pool2d(x, 3, 2);
    tap("block0_out", x);
    x = Conv2d_4a_3x3(Conv2d_3b_1x1(x));
    x = torch::max_pool2d(x, 3, 2);
    tap("block1_out", x);
    x = Mixed_5b(x);
    tap("Mixed_5b", x);
    x = Mixed_6a(Mixed_5d(Mixed_5c(x)));
    x = Mixed_6b(x);
    tap("Mixed_6b", x);
    x = Mixed_6e(Mixed_6d(Mixed_6c(x)));
    tap("block2_out", x);
    x = Mixed_7a(x);
    tap("Mixed_7a", x);
    x = Mixed_7b(x);
    tap("Mixed_7b", x);
    x = Mixed_7c(x);
    tap("Mixed_7c", x);
    x = torch::adaptive_avg_pool2d(x, {1, 1});
    tap("block3_out", x);
    return x.flatten(1);
  }
  BasicConv2d Conv2d_1a_3x3{nullptr}, Conv2d_2a_3x3{nullptr}, Conv2d_2b_3x3{nullptr}, Conv2d_3b_1x1{nullptr},
      Conv2d_4a_3x3{nullptr};
  InceptionA Mixed_5b{nullptr}, Mixed_5c{nullptr}, Mixed_5d{nullptr};
  InceptionB Mixed_6a{nullptr};
  InceptionC Mixed_6b{nullptr}, Mixed_6c{nullptr}, Mixed_6d{nullptr}, Mixed_6e{nullptr};
  InceptionD Mixed_7a{nullptr};
  InceptionE Mixed_7b{nullptr}, Mixed_7c{nullptr};
};
TORCH_MODULE(FidInceptionV3);

}  // namespace

const char* to_string(FidPreprocess mode) {
  switch (mode) {
    case FidPreprocess::PytorchFid: return "pytorch-fid";
    case FidPreprocess::CleanFid: return "clean-fid";
    case FidPreprocess::Torchmetrics: return "torchmetrics";
  }
  return "?";
}

FidPreprocess fid_preprocess_from_string(const std::string& name) {
  if (name == "pytorch-fid") return FidPreprocess::PytorchFid;
  if (name == "clean-fid") return FidPreprocess::CleanFid;
  if (name == "torchmetrics") return FidPreprocess::Torchmetrics;
  throw MetricError("unknown FID preprocessing '" + name + "' (known: pytorch-fid, clean-fid, torchmetrics)");
}

struct InceptionFid::Impl {
  FidInceptionV3 net;
  c10::Device device{c10::kCPU};
};

InceptionFid InceptionFid::load(const std::vector<std::filesystem::path>& weights, const c10::Device& device) {
  InceptionFid f = random(c10::Device(c10::kCPU));
  model::WeightsLoadOptions options;
  options.ignore_key_prefixes = {"fc."};
  options.ignore_key_suffixes = {"num_batches_tracked"};
  options.optional_module_suffixes = {"num_batches_tracked"};
  model::load_module_weights(*f.impl_->net, weights, options);
  place_for_inference(*f.impl_->net, device);
  f.impl_->device = device;
  return f;
}

InceptionFid InceptionFid::random(const c10::Device& device, uint64_t seed) {
  torch::manual_seed(seed);
  InceptionFid f;
  f.impl_ = std::make_shared<Impl>();
  f.impl_->net = FidInceptionV3();
  place_for_inference(*f.impl_->net, device);
  f.impl_->device = device;
  return f;
}

c10::Device InceptionFid::device() const { return impl_->device; }

at::Tensor InceptionFid::preprocess(const at::Tensor& images, FidPreprocess mode) const {
  if (images.dim() != 4 || images.size(1) != 3)
    throw MetricError("FID Inception: expected images [N,3,H,W], got " + std::to_string(images.dim()) + " dimensions");
  switch (mode) {
    case FidPreprocess::PytorchFid: {
      // pytorch-fid: ToTensor() floats, F.interpolate(bilinear, align_corners=False) without antialias, even when
      // down-sampling; identity at 299×299. Then 2x - 1.
      at::Tensor x = images.scalar_type() == at::kByte ? images.to(at::kFloat).div(255) : images.to(at::kFloat);
      x = torch_bilinear_resize(x.to(impl_->device), kInputSize, kInputSize, false);
      return x.mul(2).sub(1);
    }
    case FidPreprocess::CleanFid: {
      // clean-fid "clean": the 8-bit values as float, PIL bicubic in mode 'F' per channel, clip to [0,255].
      at::Tensor v = eight_bit_values(images.to(at::kCPU)).to(at::kFloat);
      at::Tensor x = pil_resize_float(v, kInputSize, kInputSize, PilFilter::Bicubic).clamp(0, 255);
      return x.to(impl_->device).sub(128).div(128);
    }
    case FidPreprocess::Torchmetrics: {
      // torchmetrics >= 1.8: uint8 values as float, antialiased bilinear, (x - 128)/128.
      at::Tensor v = eight_bit_values(images).to(at::kFloat).to(impl_->device);
      return torch_bilinear_resize(v, kInputSize, kInputSize, true).sub(128).div(128);
    }
  }
  throw MetricError("FID Inception: unknown preprocessing");
}

at::Tensor InceptionFid::pool3(const at::Tensor& input) const {
  torch::NoGradGuard no_grad;
  return impl_->net->forward(input.to(impl_->device, at::kFloat)).to(at::kCPU);
}

at::Tensor InceptionFid::forward(const at::Tensor& images, FidPreprocess mode, int64_t batch_size) const {
  return rows_in_batches(images, batch_size, kFeatureDim,
                         [&](const at::Tensor& batch) { return pool3(preprocess(batch, mode)); });
}

std::vector<std::pair<std::string, at::Tensor>> InceptionFid::intermediates(const at::Tensor& input) const {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<std::string, torch::Tensor>> taps;
  impl_->net->forward(input.to(impl_->device, at::kFloat), &taps);
  for (auto& t : taps) t.second = t.second.to(at::kCPU);
  return taps;
}

double InceptionFid::flops_per_image() {
  static const double flops = [] {
    torch::NoGradGuard no_grad;
    FidInceptionV3 net;
    net->eval();
    double counter = 0;
    g_flop_counter = &counter;
    net->forward(torch::zeros({1, 3, kInputSize, kInputSize}));
    g_flop_counter = nullptr;
    return counter;
  }();
  return flops;
}

}  // namespace osor::metrics
