/**
 * The evaluation preprocessing of src/inputs/preprocessing.py (Preprocessing.eval_ops), step for step, after
 * decoding: RGB, resize the shorter side to round (or floor) of max(height, width) / crop_pct with MindSpore's Resize
 * (OpenCV's cv::resize: INTER_LINEAR for bilinear, INTER_CUBIC for bicubic), centre crop, normalise each
 * channel as (x - 255 * mean) / (255 * std), HWC -> CHW float32.
 */
#ifndef INCEPTIONV4_INFER_PREPROCESS_H_
#define INCEPTIONV4_INFER_PREPROCESS_H_

#include <array>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

/** Mean and std per RGB channel on 0-1 pixels, resize interpolation, centre-crop fraction; the defaults
 *  are the original model zoo's (ImageNet mean/std, bilinear, Resize(299) + CenterCrop(299)). */
struct Preprocessing {
  std::array<double, 3> image_mean = {0.485, 0.456, 0.406};
  std::array<double, 3> image_std = {0.229, 0.224, 0.225};
  std::string interpolation = "bilinear";
  double crop_pct = 1.0;
  std::string resize_rounding = "round";  // "floor" (timm, mindcv): the resize length floor(size / crop_pct)
  std::string resize_backend = "numpy";   // "pil" (timm): PIL's antialiased resize, which OpenCV lacks
};

/** Throws AppError naming the key and `where` (e.g. "on the command line") if a value is out of range. */
void CheckPreprocessing(const Preprocessing &prep, const std::string &where);

/** A value as Python's repr writes it (0.875, 1.0, 1e-05; [0.5, 0.5, 0.5]), for messages worded as the
 *  Python tools word them. */
std::string Repr(double value);
std::string Repr(const std::array<double, 3> &values);

/** Length the shorter image side is resized to before the centre crop of height x width. */
int ResizeSize(const Preprocessing &prep, int height, int width);

/** One line as the Python tools print it: "preprocessing: bilinear resize to 75, centre crop 75x75, mean
 *  0.485 0.456 0.406, std 0.229 0.224 0.225". */
std::string Describe(const Preprocessing &prep, int height, int width);

/** Size after resizing the shorter side to `shorter`, rounded as MindSpore's Resize(int) does. */
cv::Size ShorterSideSize(const cv::Size &image, int shorter);

/** Preprocess a decoded BGR image for a model input of height x width; returns 3*height*width floats
 *  in RGB channel order, CHW layout. */
std::vector<float> Preprocess(const cv::Mat &bgr, int height, int width, const Preprocessing &prep);

#endif  // INCEPTIONV4_INFER_PREPROCESS_H_
