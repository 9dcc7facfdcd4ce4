/**
 * The evaluation preprocessing of src/dataset.py, step for step, after decoding: RGB, resize the shorter
 * side to round(crop / 0.875) with bilinear interpolation, centre crop, scale to [0, 1], normalise with
 * the ImageNet mean and std, HWC -> CHW float32.
 */
#ifndef INCEPTIONV4_INFER_PREPROCESS_H_
#define INCEPTIONV4_INFER_PREPROCESS_H_

#include <vector>

#include <opencv2/core.hpp>

/** Size after resizing the shorter side to `shorter`, rounded as MindSpore's Resize(int) does. */
cv::Size ShorterSideSize(const cv::Size &image, int shorter);

/** Preprocess a decoded BGR image for a model input of height x width; returns 3*height*width floats
 *  in RGB channel order, CHW layout. */
std::vector<float> Preprocess(const cv::Mat &bgr, int height, int width);

#endif  // INCEPTIONV4_INFER_PREPROCESS_H_
