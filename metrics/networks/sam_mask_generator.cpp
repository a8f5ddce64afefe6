#include "metrics/networks/sam_mask_generator.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "metrics/error.h"
#include "metrics/networks/sam.h"
#include "metrics/networks/sam_mask_ops.h"

namespace osor::metrics {

namespace {

// The rows that survive a crop (MaskData): masks uncropped to the picture, boxes in the crop frame until uncropped.
struct MaskRows {
  at::Tensor masks;      // bool [N,H,W] (CPU)
  at::Tensor boxes;      // int64 [N,4]
  at::Tensor iou;        // float32 [N]
  at::Tensor points;     // float64 [N,2]
  at::Tensor stability;  // float32 [N]
  at::Tensor crop_boxes; // int64 [N,4]
  // The rows of several batches or crops, concatenated once (not batch by batch: masks are large).
  static MaskRows concat(const std::vector<MaskRows>& parts) {
    MaskRows r;
    std::vector<at::Tensor> masks, boxes, iou, points, stability, crop_boxes;
    for (const MaskRows& p : parts) {
      if (p.size() == 0) continue;
      masks.push_back(p.masks), boxes.push_back(p.boxes), iou.push_back(p.iou), points.push_back(p.points);
      stability.push_back(p.stability);
      if (p.crop_boxes.defined()) crop_boxes.push_back(p.crop_boxes);
    }
    if (masks.empty()) return r;
    r.masks = at::cat(masks, 0), r.boxes = at::cat(boxes, 0), r.iou = at::cat(iou, 0), r.points = at::cat(points, 0);
    r.stability = at::cat(stability, 0);
    if (!crop_boxes.empty()) r.crop_boxes = at::cat(crop_boxes, 0);
    return r;
  }
  void keep(const at::Tensor& index) {
    masks = masks.index_select(0, index), boxes = boxes.index_select(0, index), iou = iou.index_select(0, index);
    points = points.index_select(0, index), stability = stability.index_select(0, index);
    if (crop_boxes.defined()) crop_boxes = crop_boxes.index_select(0, index);
  }
  int64_t size() const { return iou.defined() ? iou.size(0) : 0; }
};

at::Tensor indices(const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); }

// _process_batch: filter one batch of decoded prompts.
MaskRows process_batch(SamPromptDecoder& decoder, const at::Tensor& points, const std::array<int64_t, 4>& crop,
                       int64_t orig_h, int64_t orig_w, const SamGeneratorOptions& o) {
  auto [logits, iou] = decoder.decode(points);
  const int64_t k = logits.size(1);
  logits = logits.flatten(0, 1);
  iou = iou.flatten(0, 1).to(at::kFloat);
  MaskRows r;
  r.points = points.repeat_interleave(k, 0);
  at::Tensor keep = at::ones({logits.size(0)}, iou.options().dtype(at::kBool));
  // Thresholds compare in float32, as a float32 tensor against a Python float does.
  if (o.pred_iou_thresh > 0) keep = iou.gt(static_cast<float>(o.pred_iou_thresh));
  at::Tensor idx = keep.nonzero().flatten();
  logits = logits.index_select(0, idx), iou = iou.index_select(0, idx), r.points = r.points.index_select(0, idx.to(at::kCPU));
  at::Tensor stability = sam_stability_score(logits, 0.0, o.stability_score_offset);
  if (o.stability_score_thresh > 0) {
    idx = stability.ge(static_cast<float>(o.stability_score_thresh)).nonzero().flatten();
    logits = logits.index_select(0, idx), iou = iou.index_select(0, idx), stability = stability.index_select(0, idx);
    r.points = r.points.index_select(0, idx.to(at::kCPU));
  }
  at::Tensor masks = logits.gt(0.0);
  at::Tensor boxes = sam_mask_boxes(masks);
  idx = sam_box_near_crop_edge(boxes, crop, {0, 0, orig_w, orig_h}).logical_not().nonzero().flatten();
  masks = masks.index_select(0, idx).to(at::kCPU);
  const int64_t x0 = crop[0], y0 = crop[1];
  r.masks = at::constant_pad_nd(masks, {x0, orig_w - crop[2], y0, orig_h - crop[3]}, 0);
  r.boxes = boxes.index_select(0, idx).to(at::kCPU);
  r.iou = iou.index_select(0, idx).to(at::kCPU);
  r.stability = stability.index_select(0, idx).to(at::kCPU);
  r.points = r.points.index_select(0, idx.to(at::kCPU));
  return r;
}

// _process_crop: encode the crop once, decode its point grid in batches, NMS, uncrop.
MaskRows process_crop(const at::Tensor& picture, const std::array<int64_t, 4>& crop, int64_t layer, SamPromptDecoder& decoder,
                      const SamGeneratorOptions& o) {
  const int64_t orig_h = picture.size(1), orig_w = picture.size(2);
  const at::Tensor cropped = picture.slice(1, crop[1], crop[3]).slice(2, crop[0], crop[2]).contiguous();
  decoder.set_image(cropped);
  const int64_t n = static_cast<int64_t>(static_cast<double>(o.points_per_side) / std::pow(static_cast<double>(o.crop_n_points_downscale_factor), static_cast<double>(layer)));
  const at::Tensor scale = at::tensor({static_cast<double>(cropped.size(2)), static_cast<double>(cropped.size(1))}, at::kDouble);
  const at::Tensor points = sam_point_grid(n) * scale.unsqueeze(0);
  std::vector<MaskRows> batches;
  for (int64_t b = 0; b < points.size(0); b += o.points_per_batch)
    batches.push_back(process_batch(decoder, points.slice(0, b, std::min(points.size(0), b + o.points_per_batch)), crop, orig_h, orig_w, o));
  MaskRows rows = MaskRows::concat(batches);
  if (rows.size() == 0) return rows;
  rows.keep(indices(box_nms(rows.boxes.to(at::kFloat), rows.iou, o.box_nms_thresh)));
  const at::Tensor offset = at::tensor(std::vector<int64_t>{crop[0], crop[1], crop[0], crop[1]}, at::kLong).unsqueeze(0);
  rows.boxes = rows.boxes + offset;
  rows.points = rows.points + at::tensor({static_cast<double>(crop[0]), static_cast<double>(crop[1])}, at::kDouble).unsqueeze(0);
  rows.crop_boxes = at::tensor(std::vector<int64_t>(crop.begin(), crop.end()), at::kLong).unsqueeze(0).repeat({rows.size(), 1});
  return rows;
}

// postprocess_small_regions: fill small holes, remove small islands, NMS preferring unchanged masks.
void remove_small_regions(MaskRows& rows, double min_area, double nms_thresh) {
  if (rows.size() == 0) return;
  std::vector<at::Tensor> masks;
  std::vector<float> scores;
  for (int64_t i = 0; i < rows.size(); ++i) {
    auto [filled, changed_holes] = sam_remove_small_regions(rows.masks[i], min_area, true);
    auto [cleaned, changed_islands] = sam_remove_small_regions(filled, min_area, false);
    masks.push_back(cleaned);
    scores.push_back(changed_holes || changed_islands ? 0.0f : 1.0f);
  }
  const at::Tensor all = at::stack(masks, 0);
  const at::Tensor boxes = sam_mask_boxes(all);
  const std::vector<int64_t> keep = box_nms(boxes.to(at::kFloat), at::tensor(scores, at::kFloat), nms_thresh);
  for (int64_t i : keep)
    if (scores[i] == 0.0f) {
      rows.masks[i].copy_(all[i]);
      rows.boxes[i].copy_(boxes[i]);
    }
  rows.keep(indices(keep));
}

std::array<int64_t, 4> xywh(const at::Tensor& xyxy) {
  const int64_t x0 = xyxy[0].item<int64_t>(), y0 = xyxy[1].item<int64_t>();
  return {x0, y0, xyxy[2].item<int64_t>() - x0, xyxy[3].item<int64_t>() - y0};
}

class SamModelDecoder : public SamPromptDecoder {
 public:
  explicit SamModelDecoder(const Sam& sam) : sam_(sam) {}
  void set_image(const at::Tensor& crop_u8) override { image_ = sam_.set_image(crop_u8); }
  std::pair<at::Tensor, at::Tensor> decode(const at::Tensor& points) override {
    const at::Tensor model_points = sam_.apply_coords(points, image_.original_size).unsqueeze(1);
    const at::Tensor labels = at::ones({points.size(0), 1}, at::kLong);
    const SamPrediction p = sam_.predict(image_, model_points, labels, true);
    return {sam_.postprocess_masks(p.low_res_logits, image_.input_size, image_.original_size), p.iou_predictions};
  }

 private:
  const Sam& sam_;
  SamImage image_;
};

}  // namespace

std::unique_ptr<SamPromptDecoder> sam_prompt_decoder(const Sam& sam) { return std::make_unique<SamModelDecoder>(sam); }

std::vector<MaskRecord> generate_sam_masks(const at::Tensor& picture_u8, SamPromptDecoder& decoder, const SamGeneratorOptions& o) {
  if (picture_u8.dim() != 3 || picture_u8.size(0) != 3 || picture_u8.scalar_type() != at::kByte)
    throw MetricError("SAM mask generator: expected a uint8 RGB picture [3,H,W]");
  if (o.points_per_batch <= 0) throw MetricError("SAM mask generator: points_per_batch must be positive");
  const at::Tensor picture = picture_u8.to(at::kCPU).contiguous();
  const int64_t h = picture.size(1), w = picture.size(2);
  const auto crops = sam_crop_boxes(h, w, o.crop_n_layers, o.crop_overlap_ratio);
  std::vector<MaskRows> per_crop;
  for (const auto& [crop, layer] : crops) per_crop.push_back(process_crop(picture, crop, layer, decoder, o));
  MaskRows rows = MaskRows::concat(per_crop);
  if (crops.size() > 1 && rows.size() > 0) {
    const at::Tensor cb = rows.crop_boxes;
    const at::Tensor area = (cb.select(1, 2) - cb.select(1, 0)) * (cb.select(1, 3) - cb.select(1, 1));
    rows.keep(indices(box_nms(rows.boxes.to(at::kFloat), 1.0 / area.to(at::kFloat), o.crop_nms_thresh)));
  }
  if (o.min_mask_region_area > 0) remove_small_regions(rows, static_cast<double>(o.min_mask_region_area), std::max(o.box_nms_thresh, o.crop_nms_thresh));
  std::vector<MaskRecord> records;
  for (int64_t i = 0; i < rows.size(); ++i) {
    MaskRecord r;
    r.segmentation = rows.masks[i].contiguous();
    r.area = r.segmentation.sum().item<int64_t>();
    r.bbox_xywh = xywh(rows.boxes[i]);
    r.predicted_iou = rows.iou[i].item<double>();
    r.point_coords = {rows.points[i][0].item<double>(), rows.points[i][1].item<double>()};
    r.stability_score = rows.stability[i].item<double>();
    r.crop_box_xywh = xywh(rows.crop_boxes[i]);
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace osor::metrics
