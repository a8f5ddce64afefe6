// OpenCV-exact mask operations behind OSOR's Phase II mask degradations (model/train/mask_degradation.h), written
// out so model/ stays OpenCV-free. Masks are uint8 [H,W] with 0 / 255 (CPU). Conventions (train/README.md §4):
//   distance_transform: cv2.distanceTransform(mask, DIST_L2, 5): two raster passes of the 5×5 chamfer in 16.16
//     fixed point (costs 65536 axial, 91750 diagonal, 143976 knight move); outside the image is never a source.
//   external_hulls: cv2.findContours(RETR_EXTERNAL) → cv2.convexHull per contour: 8-connected foreground
//     components not enclosed by another (the image border counts as background), hull vertices without
//     collinear points.
//   fill_polygons: cv2.drawContours(zeros, hulls, −1, 255, FILLED) = every edge drawn as an 8-connected line
//     (LineIterator from the left end point), then one even-odd scanline pass over all polygons together:
//     edges in 16.16 fixed point from x_top << 16, dx = trunc((ΔX << 16)/ΔY), rows [y_top, y_bottom), each pair of
//     sorted crossings fills [ceil(x_a), floor(x_b)]. Overlapping polygons cancel (even-odd), as in OpenCV.
//   dilate_square: cv2.dilate(mask, ones(K, K), iterations=n), anchor at the centre, image border ignored.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace osor::model::train {

using Polygon = std::vector<std::pair<int64_t, int64_t>>;  // (x, y) vertices

at::Tensor distance_transform(const at::Tensor& mask);  // float32 [H,W]
std::vector<Polygon> external_hulls(const at::Tensor& mask);
at::Tensor fill_polygons(const std::vector<Polygon>& polygons, int64_t height, int64_t width);  // uint8 0/255
at::Tensor dilate_square(const at::Tensor& mask, int64_t kernel, int64_t iterations);

}  // namespace osor::model::train
