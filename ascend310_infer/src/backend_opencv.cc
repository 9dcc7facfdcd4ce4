/** CPU backend: the exported ONNX model run by OpenCV's DNN module. */
#include <algorithm>
#include <cmath>

#include <opencv2/dnn.hpp>
#include <opencv2/dnn/all_layers.hpp>

#include "app_error.h"
#include "backend.h"
#include "model_file.h"

namespace {

/** Row-wise log-softmax as x - max - log(sum(exp(x - max))): finite wherever the inputs are. */
void LogSoftmaxRows(float *data, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; ++r) {
    float *row = data + r * cols;
    float top = *std::max_element(row, row + cols);
    double sum = 0.0;
    for (size_t c = 0; c < cols; ++c) sum += std::exp(static_cast<double>(row[c] - top));
    const float shift = top + static_cast<float>(std::log(sum));
    for (size_t c = 0; c < cols; ++c) row[c] -= shift;
  }
}

class OpenCvBackend : public Backend {
 public:
  OpenCvBackend(cv::dnn::Net net, std::vector<int64_t> shape) : net_(std::move(net)), shape_(std::move(shape)) {
    // OpenCV computes LogSoftmax as log(softmax(x)), which is -inf wherever exp underflows (scores more
    // than ~100 below the top one). If the model ends with it, take the scores before it and apply a
    // stable log-softmax here, so the result files hold the finite values MindSpore and onnxruntime give.
    int last = net_.getLayerId(net_.getUnconnectedOutLayersNames().at(0));
    std::vector<cv::Ptr<cv::dnn::Layer>> inputs = net_.getLayerInputs(last);
    while (net_.getLayer(last)->type == "Identity" && inputs.size() == 1) {  // MindSpore ends with one
      last = net_.getLayerId(inputs[0]->name);
      inputs = net_.getLayerInputs(last);
    }
    auto *softmax = dynamic_cast<cv::dnn::SoftmaxLayer *>(net_.getLayer(last).get());
    if (softmax != nullptr && softmax->logSoftMax && inputs.size() == 1) output_ = inputs[0]->name;
  }

  std::vector<int64_t> InputShape() const override { return shape_; }

  std::vector<float> Infer(const std::vector<float> &input) override {
    std::vector<int> dims(shape_.begin(), shape_.end());
    cv::Mat blob(static_cast<int>(dims.size()), dims.data(), CV_32F, const_cast<float *>(input.data()));
    net_.setInput(blob);
    cv::Mat output = output_.empty() ? net_.forward() : net_.forward(output_);
    const float *data = output.ptr<float>();
    std::vector<float> values(data, data + output.total());
    if (!output_.empty()) LogSoftmaxRows(values.data(), dims[0], values.size() / dims[0]);
    return values;
  }

 private:
  cv::dnn::Net net_;
  std::vector<int64_t> shape_;
  std::string output_;  // layer before a final LogSoftmax, or "" for the model's own output
};

}  // namespace

std::unique_ptr<Backend> CreateOpenCvBackend(const std::string &model_path) {
  std::vector<int64_t> shape = OnnxInputShape(model_path);
  if (!shape.empty() && shape[0] < 0) shape[0] = 1;  // dynamic batch: one image at a time
  if (OnnxIsQuantized(model_path)) {  // OpenCV 4.6 refuses QDQ models and computes QOperator ones wrongly
    throw AppError("'" + model_path + "' is an INT8 (quantized) ONNX model, which OpenCV's DNN module cannot run: "
                   "run it with onnxruntime (python eval_onnx.py --file_name " + model_path + ", or predict.py), "
                   "or give this app the float32 model from export.py.");
  }
  cv::dnn::Net net;
  try {
    net = cv::dnn::readNetFromONNX(model_path);
  } catch (const cv::Exception &err) {
    throw AppError("OpenCV cannot load the ONNX model '" + model_path + "': " + err.msg);
  }
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  return std::make_unique<OpenCvBackend>(std::move(net), std::move(shape));
}
