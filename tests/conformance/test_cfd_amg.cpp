// Fixture cfd/amg (README §4): SamAutomaticMaskGenerator's post-processing on a logit table instead of the mask
// decoder (the rows answer the prompts in the order the generator asks), with CFD's default settings (case a) and
// with crops + small-region removal (case b). The generator's settings, the table, the expected records and the
// tolerances come from amg.json / amg.io.safetensors.
#include <doctest/doctest.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "harness/image_io.h"
#include "metrics/networks/sam.h"
#include "metrics/networks/sam_mask_generator.h"
#include "model/io/safetensors.h"
#include "tests/conformance_fixture.h"
#include "tests/fixture_tensors.h"

using namespace osor;
using model::SafetensorsFile;
using test::max_abs;
using test::read_fixture_json;

namespace {

// low_res[r,k] = float32(float32(float32(proto[idx[r,k]]) − 128) · 0.25 + offset[r,k]), upscaled by
// postprocess_masks for a model of the fixture's image size; the prompts asked are checked against the table's.
class LogitTable : public metrics::SamPromptDecoder {
 public:
  LogitTable(const SafetensorsFile& io, const std::string& c, int64_t image_size)
      : proto_(io.tensor("proto").to(at::kFloat)), idx_(io.tensor(c + ".idx")), offset_(io.tensor(c + ".offset")),
        iou_(io.tensor(c + ".iou_preds")), points_(io.tensor(c + ".points")), crop_(io.tensor(c + ".point_crop_box_xyxy")),
        image_size_(image_size) {}
  void set_image(const at::Tensor& crop_u8) override { size_ = {crop_u8.size(1), crop_u8.size(2)}; }
  std::pair<at::Tensor, at::Tensor> decode(const at::Tensor& points) override {
    const int64_t b = points.size(0);
    REQUIRE(row_ + b <= idx_.size(0));
    CHECK(max_abs(points, points_.slice(0, row_, row_ + b)) == 0);
    const at::Tensor crop = crop_.slice(0, row_, row_ + b);
    CHECK(at::equal(crop.select(1, 3) - crop.select(1, 1), at::full({b}, size_[0], at::kLong)));
    CHECK(at::equal(crop.select(1, 2) - crop.select(1, 0), at::full({b}, size_[1], at::kLong)));
    const at::Tensor idx = idx_.slice(0, row_, row_ + b);
    const at::Tensor low = (proto_.index_select(0, idx.flatten()).view({b, idx.size(1), proto_.size(1), proto_.size(2)}) - 128) * 0.25 +
                           offset_.slice(0, row_, row_ + b).unsqueeze(-1).unsqueeze(-1);
    const at::Tensor iou = iou_.slice(0, row_, row_ + b);
    row_ += b;
    return {metrics::sam_postprocess_masks(low, image_size_, metrics::sam_preprocess_shape(size_[0], size_[1], image_size_), size_), iou};
  }
  int64_t rows_asked() const { return row_; }

 private:
  at::Tensor proto_, idx_, offset_, iou_, points_, crop_;
  int64_t image_size_;
  std::array<int64_t, 2> size_{};
  int64_t row_ = 0;
};

metrics::SamGeneratorOptions options_of(const nlohmann::json& kw) {
  metrics::SamGeneratorOptions o;
  o.points_per_side = kw.at("points_per_side");
  o.points_per_batch = kw.at("points_per_batch");
  o.pred_iou_thresh = kw.at("pred_iou_thresh");
  o.stability_score_thresh = kw.at("stability_score_thresh");
  o.stability_score_offset = kw.at("stability_score_offset");
  o.box_nms_thresh = kw.at("box_nms_thresh");
  o.crop_n_layers = kw.at("crop_n_layers");
  o.crop_nms_thresh = kw.at("crop_nms_thresh");
  o.crop_overlap_ratio = kw.at("crop_overlap_ratio");
  o.crop_n_points_downscale_factor = kw.at("crop_n_points_downscale_factor");
  o.min_mask_region_area = kw.at("min_mask_region_area");
  REQUIRE(kw.at("output_mode").get<std::string>() == "binary_mask");
  return o;
}

std::vector<int64_t> longs(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

}  // namespace

TEST_CASE("conformance: cfd/amg automatic mask generator records (default and crops + small regions) match segment-anything") {
  OSOR_REQUIRE_CONFORMANCE(conf, "cfd/amg.json");
  const std::filesystem::path dir = conf / "cfd";
  const nlohmann::json j = read_fixture_json(dir / "amg.json");
  const SafetensorsFile io = SafetensorsFile::open(dir / "amg.io.safetensors");
  const at::Tensor picture = harness::read_image(dir / j.at("picture").at("image").get<std::string>()).rgb[0].mul(255).round().to(at::kByte);
  const int64_t h = picture.size(1), w = picture.size(2);
  REQUIRE(!j.at("cases").empty());
  for (const auto& [c, spec] : j.at("cases").items()) {
    CAPTURE(c);
    LogitTable table(io, c, j.at("geometry").at("image_size").get<int64_t>());
    const auto records = metrics::generate_sam_masks(picture, table, options_of(spec.at("generator_kwargs")));
    CHECK(table.rows_asked() == io.tensor(c + ".idx").size(0));
    const std::string e = c + ".records.";
    const std::vector<int64_t> counts = longs(io.tensor(e + "rle_counts")), offsets = longs(io.tensor(e + "rle_offsets"));
    const at::Tensor bbox = io.tensor(e + "bbox_xywh"), crop = io.tensor(e + "crop_box_xywh"), point = io.tensor(e + "point_coords");
    const at::Tensor iou = io.tensor(e + "predicted_iou"), stability = io.tensor(e + "stability_score"), area = io.tensor(e + "area");
    REQUIRE(records.size() + 1 == offsets.size());
    // README 4.3: at most max(2, 2 × measured float32-vs-float64 pixels) differing pixels per mask, stability 1e-3.
    const int64_t pixels = std::max<int64_t>(2, 2 * j.at("measured").at(c).at("max_pixels_differing").get<int64_t>());
    int64_t worst_pixels = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      CAPTURE(i);
      const metrics::MaskRecord& r = records[i];
      const at::Tensor expected = metrics::rle_to_mask({counts.begin() + offsets[i], counts.begin() + offsets[i + 1]}, h, w);
      const int64_t differing = r.segmentation.ne(expected).sum().item<int64_t>();
      worst_pixels = std::max(worst_pixels, differing);
      CHECK(differing <= pixels);
      CHECK(std::abs(r.area - area[i].item<int64_t>()) <= pixels);
      CHECK(std::vector<int64_t>(r.bbox_xywh.begin(), r.bbox_xywh.end()) == longs(bbox[i]));
      CHECK(std::vector<int64_t>(r.crop_box_xywh.begin(), r.crop_box_xywh.end()) == longs(crop[i]));
      CHECK(r.point_coords[0] == point[i][0].item<double>());
      CHECK(r.point_coords[1] == point[i][1].item<double>());
      CHECK(r.predicted_iou == iou[i].item<double>());
      CHECK(std::abs(r.stability_score - stability[i].item<double>()) <= 1e-3);
    }
    MESSAGE(c << ": " << records.size() << " records, worst differing pixels per mask " << worst_pixels << " (allowed " << pixels << ")");
  }
}
