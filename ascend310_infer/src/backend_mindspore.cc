/** Ascend backend: the exported MINDIR model run by MindSpore's C++ inference API (Ascend 310/310P).
 *  Compiled only when CMake finds MindSpore's C++ API headers and a library implementing them (MINDSPORE_LIBRARY). */
#include <cstring>
#include <regex>

#include "include/api/context.h"
#include "include/api/model.h"
#include "include/api/serialization.h"
#include "include/api/types.h"

#include "app_error.h"
#include "backend.h"

namespace {

float HalfToFloat(uint16_t half) {
  uint32_t sign = static_cast<uint32_t>(half & 0x8000) << 16;
  uint32_t exponent = (half >> 10) & 0x1f;
  uint32_t mantissa = half & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000 | (mantissa << 13);  // inf / nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal half: normalise it
    exponent = 113;
    while (!(mantissa & 0x400)) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
  }
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

/** The first line of a MindSpore message (the rest is its C++ call stack). */
std::string FirstLine(const std::string &message) { return message.substr(0, message.find('\n')); }

/** One line for a failure to load `model_path`: MindSpore's MindIR version error names both versions. */
AppError LoadError(const std::string &model_path, const std::string &message) {
  std::smatch match;
  static const std::regex kVersion("maximum mind ir version: *(\\d+).*mind ir version: *(\\d+)");
  if (std::regex_search(message, match, kVersion)) {
    return AppError("the MINDIR model '" + model_path + "' has MindIR version " + match[2].str() +
                    ", but the MindSpore library this app was built with (" MINDSPORE_LIBRARY ") reads MindIR versions "
                    "up to " + match[1].str() + ": rebuild the app (MINDSPORE_PATH=... bash build.sh) with the MindSpore "
                    "release that exported the model, or run its ONNX export with --device_type=CPU.");
  }
  return AppError("MindSpore cannot load the MINDIR model '" + model_path + "': " + FirstLine(message) +
                  " (export it with export.py --file_format MINDIR).");
}

class MindSporeBackend : public Backend {
 public:
  MindSporeBackend(const std::string &model_path, int device_id) {
    auto context = std::make_shared<mindspore::Context>();
    auto ascend = std::make_shared<mindspore::AscendDeviceInfo>();
    ascend->SetDeviceID(static_cast<uint32_t>(device_id));
    context->MutableDeviceInfo().push_back(ascend);
    mindspore::Graph graph;
    mindspore::Status status;
    try {  // MindSpore reports some load errors as a Status, others (e.g. the MindIR version) as an exception
      status = mindspore::Serialization::Load(model_path, mindspore::ModelType::kMindIR, &graph);
    } catch (const std::exception &err) {
      throw LoadError(model_path, err.what());
    }
    if (status != mindspore::kSuccess) throw LoadError(model_path, status.ToString());
    try {
      status = model_.Build(mindspore::GraphCell(graph), context);
    } catch (const std::exception &err) {
      status = mindspore::Status(mindspore::kMEFailed, FirstLine(err.what()));
    }
    if (status != mindspore::kSuccess) {
      throw AppError("MindSpore cannot build '" + model_path + "' on Ascend device " + std::to_string(device_id) +
                     ": " + FirstLine(status.ToString()));
    }
    std::vector<mindspore::MSTensor> inputs = model_.GetInputs();
    if (inputs.size() != 1 || inputs[0].DataType() != mindspore::DataType::kNumberTypeFloat32) {
      throw AppError("MINDIR model '" + model_path + "' must have one float32 input (an exported Inception-v4).");
    }
    input_name_ = inputs[0].Name();
    shape_ = inputs[0].Shape();
    if (!shape_.empty() && shape_[0] < 0) {  // batch-dynamic model: one image at a time, as the CPU backend
      shape_[0] = 1;
      status = model_.Resize(inputs, {shape_});
      if (status != mindspore::kSuccess) {
        throw AppError("MindSpore cannot run the batch-dynamic model '" + model_path + "' at batch 1: " +
                       FirstLine(status.ToString()));
      }
    }
  }

  std::vector<int64_t> InputShape() const override { return shape_; }

  std::vector<float> Infer(const std::vector<float> &input) override {
    std::vector<mindspore::MSTensor> inputs = {mindspore::MSTensor(
        input_name_, mindspore::DataType::kNumberTypeFloat32, shape_, input.data(), input.size() * sizeof(float))};
    std::vector<mindspore::MSTensor> outputs;
    mindspore::Status status = model_.Predict(inputs, &outputs);
    if (status != mindspore::kSuccess || outputs.empty()) {
      throw std::runtime_error("MindSpore Predict failed: " + status.ToString());
    }
    mindspore::MSTensor &output = outputs[0];
    auto data = output.Data();
    size_t count = static_cast<size_t>(output.ElementNum());
    std::vector<float> values(count);
    if (output.DataType() == mindspore::DataType::kNumberTypeFloat32) {
      std::memcpy(values.data(), data.get(), count * sizeof(float));
    } else if (output.DataType() == mindspore::DataType::kNumberTypeFloat16) {
      const uint16_t *halves = static_cast<const uint16_t *>(data.get());
      for (size_t i = 0; i < count; ++i) values[i] = HalfToFloat(halves[i]);
    } else {
      throw std::runtime_error("the model's output is neither float32 nor float16");
    }
    return values;
  }

 private:
  mindspore::Model model_;
  std::string input_name_;
  std::vector<int64_t> shape_;
};

}  // namespace

std::unique_ptr<Backend> CreateMindSporeBackend(const std::string &model_path, int device_id) {
  return std::make_unique<MindSporeBackend>(model_path, device_id);
}
