/** The input shape stored in an ONNX file, read without loading its weights (OpenCV 4.6's DNN module
 *  does not report it). */
#ifndef INCEPTIONV4_INFER_ONNX_INPUT_SHAPE_H_
#define INCEPTIONV4_INFER_ONNX_INPUT_SHAPE_H_

#include <cstdint>
#include <string>
#include <vector>

/** Dimensions of the first graph input that is not an initializer; -1 for a symbolic dimension.
 *  Throws AppError if the file is not an ONNX model or declares no input shape. */
std::vector<int64_t> OnnxInputShape(const std::string &path);

#endif  // INCEPTIONV4_INFER_ONNX_INPUT_SHAPE_H_
