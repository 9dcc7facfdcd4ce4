#include "preprocess.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <opencv2/imgproc.hpp>

#include "app_error.h"

namespace {

std::string GeneralFormat(const std::array<double, 3> &values) {  // Python's f"{v:g}", space-separated
  std::string out;
  for (double value : values) {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", value);
    out += (out.empty() ? "" : " ") + std::string(text);
  }
  return out;
}

}  // namespace

std::string Repr(double value) {
  if (!std::isfinite(value)) return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  char text[40];
  auto written = std::to_chars(text, text + sizeof(text), value, std::chars_format::scientific);  // shortest
  std::string scientific(text, written.ptr);  // e.g. -1.25e-05
  bool negative = scientific[0] == '-';
  size_t e = scientific.find('e');
  std::string digits = scientific.substr(negative, e - negative);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int exponent = std::atoi(scientific.c_str() + e + 1);
  int point = exponent + 1;  // value = 0.<digits> * 10^point
  const int count = static_cast<int>(digits.size());
  std::string out;
  if (point > -4 && point <= 16) {  // Python's repr: positional notation in this range
    if (point <= 0) {
      out = "0." + std::string(-point, '0') + digits;
    } else if (point >= count) {
      out = digits + std::string(point - count, '0') + ".0";
    } else {
      out = digits.substr(0, point) + "." + digits.substr(point);
    }
  } else {
    char power[8];
    std::snprintf(power, sizeof(power), "e%+03d", exponent);
    out = digits.substr(0, 1) + (count > 1 ? "." + digits.substr(1) : "") + power;
  }
  return (negative ? "-" : "") + out;
}

std::string Repr(const std::array<double, 3> &values) {
  return "[" + Repr(values[0]) + ", " + Repr(values[1]) + ", " + Repr(values[2]) + "]";
}

void CheckPreprocessing(const Preprocessing &prep, const std::string &where) {
  for (const auto &[key, values] : {std::pair{"image_mean", prep.image_mean}, std::pair{"image_std", prep.image_std}}) {
    if (!std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); })) {
      throw AppError(std::string("'") + key + "' " + where + " must be three numbers (R, G, B on 0-1 pixels), got " +
                     Repr(values) + ".");
    }
  }
  if (!std::all_of(prep.image_mean.begin(), prep.image_mean.end(), [](double v) { return v >= 0 && v <= 1; })) {
    throw AppError("'image_mean' " + where + " must be three numbers in [0, 1] (on 0-1 pixels), got " +
                   Repr(prep.image_mean) + ".");
  }
  if (!std::all_of(prep.image_std.begin(), prep.image_std.end(), [](double v) { return v > 0 && v <= 1; })) {
    throw AppError("'image_std' " + where + " must be three numbers in (0, 1] (on 0-1 pixels), got " +
                   Repr(prep.image_std) + ".");
  }
  if (prep.interpolation != "bilinear" && prep.interpolation != "bicubic") {
    throw AppError("'interpolation' " + where + " is '" + prep.interpolation +
                   "'; allowed values: bilinear, bicubic.");
  }
  if (!(prep.crop_pct > 0.0 && prep.crop_pct <= 1.0)) {
    throw AppError("'crop_pct' " + where + " must lie in (0, 1], got " + Repr(prep.crop_pct) + ".");
  }
}

int ResizeSize(const Preprocessing &prep, int height, int width) {
  const double length = std::max(height, width) / prep.crop_pct;
  if (prep.resize_rounding == "floor") return static_cast<int>(std::floor(length));
  // Python's int(round(x)): halves round to even, as std::nearbyint does in the default rounding mode.
  return static_cast<int>(std::nearbyint(length));
}

std::string Describe(const Preprocessing &prep, int height, int width) {
  return "preprocessing: " + prep.interpolation + " resize to " + std::to_string(ResizeSize(prep, height, width)) +
         ", centre crop " + std::to_string(height) + "x" + std::to_string(width) + ", mean " +
         GeneralFormat(prep.image_mean) + ", std " + GeneralFormat(prep.image_std);
}

cv::Size ShorterSideSize(const cv::Size &image, int shorter) {
  // MindSpore: the longer side becomes floor(float(longer) / shorter_in * shorter_out) in float32.
  if (image.height < image.width) {
    int width = static_cast<int>(std::floor(static_cast<float>(image.width) / image.height * shorter));
    return cv::Size(width, shorter);
  }
  int height = static_cast<int>(std::floor(static_cast<float>(image.height) / image.width * shorter));
  return cv::Size(shorter, height);
}

std::vector<float> Preprocess(const cv::Mat &bgr, int height, int width, const Preprocessing &prep) {
  const int interpolation = prep.interpolation == "bicubic" ? cv::INTER_CUBIC : cv::INTER_LINEAR;
  cv::Mat resized;
  cv::resize(bgr, resized, ShorterSideSize(bgr.size(), ResizeSize(prep, height, width)), 0, 0, interpolation);
  // MindSpore's CenterCrop puts the odd pixel on the bottom/right: offsets round down.
  cv::Rect crop((resized.cols - width) / 2, (resized.rows - height) / 2, width, height);
  cv::Mat patch = resized(crop);
  // src/inputs/preprocessing.py normalises with Normalize(mean * 255, std * 255): the products in double, handed
  // to MindSpore as float32; (x - mean) / std in float32 then gives its exact bits ((x / 255 - mean) / std
  // would differ in the last bit).
  float mean255[3], std255[3];
  for (int c = 0; c < 3; ++c) {
    mean255[c] = static_cast<float>(prep.image_mean[c] * 255);
    std255[c] = static_cast<float>(prep.image_std[c] * 255);
  }
  std::vector<float> chw(3 * static_cast<size_t>(height) * width);
  for (int c = 0; c < 3; ++c) {
    const int source = 2 - c;  // BGR -> RGB
    float *plane = chw.data() + static_cast<size_t>(c) * height * width;
    for (int y = 0; y < height; ++y) {
      const cv::Vec3b *row = patch.ptr<cv::Vec3b>(y);
      for (int x = 0; x < width; ++x) {
        plane[static_cast<size_t>(y) * width + x] = (static_cast<float>(row[x][source]) - mean255[c]) / std255[c];
      }
    }
  }
  return chw;
}
