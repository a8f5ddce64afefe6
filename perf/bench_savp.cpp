// SAVP throughput: one verify_pair (heatmap, cleaning, audit, anchoring, fusion, dilation, effect
// split) on a 1024² pair with an object and its shadow, one thread. The detector and segmenter are
// fixed answers, so this times SAVP's own pixel work, not GroundingDINO or SAM2; image decoding and
// PNG writing are excluded.
#include <benchmark/benchmark.h>

// Built only where the harness (OpenCV) is: -DOSOR_WITH_OPENCV=OFF builds leave osor_harness out.
#if __has_include(<opencv2/core.hpp>)
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "harness/savp/pipeline.h"
#include "harness/savp/difference.h"

namespace {

using namespace osor::harness::savp;

struct Fixed : Detector, Segmenter {
  std::vector<Detection> boxes;
  cv::Mat mask;
  std::vector<Detection> detect(const Triplet&, const cv::Mat&) override { return boxes; }
  cv::Mat segment(const Triplet&, const cv::Mat&, const Box&) override { return mask; }
};

struct Scene {
  cv::Mat with_object, without_object;
  Fixed oracle;
};

Scene scene(int size) {
  Scene s;
  cv::RNG rng(3);
  s.without_object.create(size, size, CV_8UC3);
  rng.fill(s.without_object, cv::RNG::UNIFORM, cv::Scalar(60, 90, 80), cv::Scalar(200, 210, 190));
  cv::GaussianBlur(s.without_object, s.without_object, cv::Size(0, 0), 2.0);
  s.with_object = s.without_object.clone();
  const int u = size / 16;
  const cv::Rect object(5 * u, 4 * u, 4 * u, 4 * u), shadow(5 * u, 8 * u, 5 * u, 2 * u);
  cv::Mat dark;
  s.with_object(shadow).convertTo(dark, -1, 0.45);
  dark.copyTo(s.with_object(shadow));
  cv::ellipse(s.with_object, cv::Point(7 * u, 6 * u), cv::Size(2 * u, 2 * u), 0, 0, 360, cv::Scalar(30, 40, 220), -1);
  s.oracle.mask = cv::Mat::zeros(size, size, CV_8U);
  cv::ellipse(s.oracle.mask, cv::Point(7 * u, 6 * u), cv::Size(2 * u, 2 * u), 0, 0, 360, 1, -1);
  s.oracle.boxes = {{double(object.x), double(object.y), double(object.x + object.width), double(object.y + object.height), 0.8}};
  return s;
}

void BM_savp_verify_pair(benchmark::State& state) {
  cv::setNumThreads(1);
  Scene s = scene(static_cast<int>(state.range(0)));
  const SavpConfig config;
  Triplet t;
  t.id = "bench";
  bool kept = true;
  for (auto _ : state) {
    const PairResult r = verify_pair(t, s.with_object, s.without_object, s.oracle, s.oracle, config);
    kept = kept && r.kept;
    benchmark::DoNotOptimize(r.effect_mask.data);
  }
  if (!kept) state.SkipWithError("the benchmark pair was not kept");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("pairs/s = items_per_second");
}

void BM_savp_heatmap(benchmark::State& state) {
  cv::setNumThreads(1);
  Scene s = scene(static_cast<int>(state.range(0)));
  const SavpConfig config;
  for (auto _ : state) benchmark::DoNotOptimize(difference_heatmap(s.without_object, s.with_object, config).data);
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_savp_verify_pair)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_savp_heatmap)->Arg(1024)->Unit(benchmark::kMillisecond);

#endif  // __has_include(<opencv2/core.hpp>)
