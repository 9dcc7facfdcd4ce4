/** One interface over the inference engines; which ones exist is decided when CMake configures. */
#ifndef INCEPTIONV4_INFER_BACKEND_H_
#define INCEPTIONV4_INFER_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

class Backend {
 public:
  virtual ~Backend() = default;
  /** Model input shape, NCHW. */
  virtual std::vector<int64_t> InputShape() const = 0;
  /** Run one batch (NCHW float32, InputShape()'s size); returns batch x classes float32 values. */
  virtual std::vector<float> Infer(const std::vector<float> &input) = 0;
};

/** Open `model_path` with the backend of `device_type` (CPU: OpenCV DNN on ONNX; Ascend: MindSpore on
 *  MINDIR). Throws AppError if the model cannot be loaded or the backend was not compiled in. */
std::unique_ptr<Backend> CreateBackend(const std::string &device_type, const std::string &model_path,
                                       int device_id);

std::unique_ptr<Backend> CreateOpenCvBackend(const std::string &model_path);
#ifdef ENABLE_MINDSPORE_BACKEND
std::unique_ptr<Backend> CreateMindSporeBackend(const std::string &model_path, int device_id);
#endif

#endif  // INCEPTIONV4_INFER_BACKEND_H_
