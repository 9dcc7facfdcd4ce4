/** What the app reads from an exported model file without loading its weights: the ONNX input shape
 *  (OpenCV 4.6's DNN module does not report it) and the metadata export.py records. ONNX and MindIR are
 *  both protobuf ModelProto messages whose field 14 maps strings to strings (ONNX metadata_props, MindIR
 *  user_info). */
#ifndef INCEPTIONV4_INFER_MODEL_FILE_H_
#define INCEPTIONV4_INFER_MODEL_FILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

/** Dimensions of the first graph input that is not an initializer; -1 for a symbolic dimension.
 *  Throws AppError if the file is not an ONNX model or declares no input shape. */
std::vector<int64_t> OnnxInputShape(const std::string &path);

/** The value stored under `key` in the ModelProto's metadata_props (ONNX) or user_info (MindIR); nullopt
 *  if there is none or the file is not a readable protobuf message (the backend then says why). */
std::optional<std::string> ModelMetadata(const std::string &path, const std::string &key);

/** True if the ONNX graph holds quantization ops (QuantizeLinear, DequantizeLinear, QLinear*, *Integer): an
 *  INT8 model such as src/tools/quantize_onnx.py writes. False for float models and unreadable files. */
bool OnnxIsQuantized(const std::string &path);

#endif  // INCEPTIONV4_INFER_MODEL_FILE_H_
