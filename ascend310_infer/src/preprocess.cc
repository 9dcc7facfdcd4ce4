#include "preprocess.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace {

constexpr double kCropRatio = 0.875;
// ImageNet mean and std (RGB) on the 0-255 scale: (x - mean) / std in float32 gives the same bits as
// src/dataset.py's Normalize(mean * 255, std * 255) (x / 255 - mean / std would differ in the last bit).
constexpr float kMean255[3] = {0.485 * 255, 0.456 * 255, 0.406 * 255};
constexpr float kStd255[3] = {0.229 * 255, 0.224 * 255, 0.225 * 255};

}  // namespace

cv::Size ShorterSideSize(const cv::Size &image, int shorter) {
  // MindSpore: the longer side becomes floor(float(longer) / shorter_in * shorter_out) in float32.
  if (image.height < image.width) {
    int width = static_cast<int>(std::floor(static_cast<float>(image.width) / image.height * shorter));
    return cv::Size(width, shorter);
  }
  int height = static_cast<int>(std::floor(static_cast<float>(image.height) / image.width * shorter));
  return cv::Size(shorter, height);
}

std::vector<float> Preprocess(const cv::Mat &bgr, int height, int width) {
  int shorter = static_cast<int>(std::lround(std::max(height, width) / kCropRatio));
  cv::Mat resized;
  cv::resize(bgr, resized, ShorterSideSize(bgr.size(), shorter), 0, 0, cv::INTER_LINEAR);
  // MindSpore's CenterCrop puts the odd pixel on the bottom/right: offsets round down.
  cv::Rect crop((resized.cols - width) / 2, (resized.rows - height) / 2, width, height);
  cv::Mat patch = resized(crop);
  std::vector<float> chw(3 * static_cast<size_t>(height) * width);
  for (int c = 0; c < 3; ++c) {
    const int source = 2 - c;  // BGR -> RGB
    float *plane = chw.data() + static_cast<size_t>(c) * height * width;
    for (int y = 0; y < height; ++y) {
      const cv::Vec3b *row = patch.ptr<cv::Vec3b>(y);
      for (int x = 0; x < width; ++x) {
        plane[static_cast<size_t>(y) * width + x] = (static_cast<float>(row[x][source]) - kMean255[c]) / kStd255[c];
      }
    }
  }
  return chw;
}
