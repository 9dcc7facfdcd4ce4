/**
 * Inception-v4 inference app: preprocess every image of a folder as eval.py does (with the settings recorded
 * in the model file, or given as flags), run the exported model,
 * write result_Files/<image>_0.bin (the model's float32 outputs: log-probabilities), model_info.txt (the
 * model's input shape and class count) and time_Result/test_perform_static.txt (mean time of one inference
 * call) in the current folder. postprocess.py turns the result files into accuracy.
 */
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app_error.h"
#include "backend.h"
#include "decode.h"
#include "flags.h"
#include "image_files.h"
#include "model_preprocessing.h"
#include "preprocess.h"

namespace fs = std::filesystem;

namespace {

const char kResultDir[] = "result_Files";
const char kTimeDir[] = "time_Result";
const char kInputDir[] = "preprocess_Result";
const char kModelInfo[] = "model_info.txt";

/** Write `count` floats to `path` through a temporary file, so a file is complete or absent. */
void WriteFloats(const fs::path &path, const float *data, size_t count) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(data), static_cast<std::streamsize>(count * sizeof(float)));
    if (!out) throw std::runtime_error("cannot write '" + tmp.string() + "'");
  }
  fs::rename(tmp, path);
}

struct Geometry {
  int batch, height, width;
};

Geometry CheckInputShape(const std::vector<int64_t> &shape, const std::string &model_path) {
  bool ok = shape.size() == 4 && shape[0] > 0 && shape[1] == 3 && shape[2] > 0 && shape[3] > 0;
  if (!ok) {
    std::ostringstream dims;
    for (size_t i = 0; i < shape.size(); ++i) dims << (i ? "x" : "") << shape[i];
    throw AppError("model '" + model_path + "' has input shape " + dims.str() + ", expected NCHW with 3 channels "
                   "and a fixed height and width (export.py writes 1x3x<height>x<width>).");
  }
  return {static_cast<int>(shape[0]), static_cast<int>(shape[2]), static_cast<int>(shape[3])};
}

int Run(const Flags &flags) {
  if (!fs::is_regular_file(flags.model_path)) {
    throw AppError("model file '" + fs::absolute(flags.model_path).string() + "' does not exist or is not a file: "
                   "pass --model_path with the file export.py wrote (ONNX for --device_type=CPU, MINDIR for "
                   "--device_type=Ascend).");
  }
  std::vector<ImageFile> images = ListImages(flags.dataset_path);
  const Preprocessing prep = ModelPreprocessing(flags);
  std::unique_ptr<Backend> backend = CreateBackend(flags.device_type, flags.model_path, flags.device_id);
  Geometry geometry = CheckInputShape(backend->InputShape(), flags.model_path);
  const size_t image_size = 3 * static_cast<size_t>(geometry.height) * geometry.width;
  std::cout << "model " << flags.model_path << ": input " << geometry.batch << "x3x" << geometry.height << "x"
            << geometry.width << ", " << images.size() << " images in " << flags.dataset_path << std::endl;
  std::cout << Describe(prep, geometry.height, geometry.width) << std::endl;

  fs::create_directories(kResultDir);
  fs::create_directories(kTimeDir);
  if (flags.save_inputs) fs::create_directories(kInputDir);

  std::vector<float> batch_input(geometry.batch * image_size);
  std::vector<const ImageFile *> pending;
  std::vector<double> costs_ms;
  size_t written = 0, skipped = 0, classes = 0;
  auto run_batch = [&]() {
    std::fill(batch_input.begin() + pending.size() * image_size, batch_input.end(), 0.0f);  // unused slots
    auto start = std::chrono::steady_clock::now();
    std::vector<float> output = backend->Infer(batch_input);
    auto end = std::chrono::steady_clock::now();
    costs_ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
    if (output.empty() || output.size() % geometry.batch != 0) {
      throw std::runtime_error("the model returned " + std::to_string(output.size()) + " values for a batch of " +
                               std::to_string(geometry.batch));
    }
    classes = output.size() / geometry.batch;
    for (size_t i = 0; i < pending.size(); ++i) {
      WriteFloats(fs::path(kResultDir) / (pending[i]->stem + "_0.bin"), output.data() + i * classes, classes);
      ++written;
    }
    pending.clear();
  };

  for (const ImageFile &image : images) {
    std::string problem;
    cv::Mat decoded = DecodeImage(image.path, &problem);
    if (decoded.empty()) {
      std::cerr << "error: bad image file '" << image.path << "': " << problem << "; skipped" << std::endl;
      ++skipped;
      continue;
    }
    std::vector<float> tensor = Preprocess(decoded, geometry.height, geometry.width, prep);
    if (flags.save_inputs) WriteFloats(fs::path(kInputDir) / (image.stem + ".bin"), tensor.data(), tensor.size());
    std::copy(tensor.begin(), tensor.end(), batch_input.begin() + pending.size() * image_size);
    pending.push_back(&image);
    if (static_cast<int>(pending.size()) == geometry.batch) run_batch();
  }
  if (!pending.empty()) run_batch();
  if (written == 0) {
    throw AppError("none of the " + std::to_string(images.size()) + " images in '" + flags.dataset_path +
                   "' could be decoded.");
  }

  double average = 0.0;
  for (double cost : costs_ms) average += cost;
  average /= static_cast<double>(costs_ms.size());
  std::ostringstream report;
  report << "NN inference cost average time: " << average << " ms of infer_count " << costs_ms.size() << std::endl;
  std::ofstream(fs::path(kTimeDir) / "test_perform_static.txt", std::ios::trunc) << report.str();
  std::ofstream(kModelInfo, std::ios::trunc) << "model_path: " << fs::absolute(flags.model_path).string() << "\n"
                                             << "input_shape: " << geometry.batch << "x3x" << geometry.height << "x"
                                             << geometry.width << "\nnum_classes: " << classes << std::endl;
  std::cout << report.str() << "wrote " << written << " result files to " << kResultDir << "/";
  if (skipped) std::cout << "; skipped " << skipped << " bad image files";
  std::cout << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  try {
    return Run(ParseFlags(argc, argv));
  } catch (const AppError &err) {
    std::cerr << "error: " << err.what() << std::endl;
    return kUsageExitCode;
  } catch (const std::exception &err) {
    std::cerr << "error: inference failed: " << err.what() << std::endl;
    return 1;
  }
}
