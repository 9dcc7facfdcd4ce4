#include "flags.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "app_error.h"

namespace {

const char kUsage[] =
    "Usage: main --model_path=FILE --dataset_path=DIR [--device_type=CPU|Ascend] [--device_id=N]\n"
    "            [--save_inputs=true] [--crop_pct=F] [--image_mean=R,G,B] [--image_std=R,G,B]\n"
    "            [--interpolation=bilinear|bicubic]\n"
    "  --model_path    exported model: ONNX for --device_type=CPU (OpenCV DNN),\n"
    "                  MINDIR for --device_type=Ascend (MindSpore, Ascend 310/310P)\n"
    "  --mindir_path   same as --model_path (name used by the model zoo's Ascend 310 apps)\n"
    "  --dataset_path  folder of images, flat or with one sub-folder per class (ImageNet val layout)\n"
    "  --device_type   CPU (default) or Ascend\n"
    "  --device_id     Ascend device to run on (default 0)\n"
    "  --save_inputs   also write each preprocessed input tensor to preprocess_Result/<image>.bin\n"
    "Preprocessing, as src/inputs/preprocessing.py does it; the model file's recorded settings (export.py writes\n"
    "them) are used unless a flag is given, the original's values (below) if it has none:\n"
    "  --crop_pct       resize the shorter side to max(height, width) / crop_pct (rounded, or floored as the\n"
    "                   model's record says), then crop the centre;\n"
    "                   0 < crop_pct <= 1 (default 1.0: the original's Resize + CenterCrop)\n"
    "  --image_mean     R,G,B mean of 0-1 pixels, also as [R, G, B] (default 0.485,0.456,0.406)\n"
    "  --image_std      R,G,B standard deviation of 0-1 pixels (default 0.229,0.224,0.225)\n"
    "  --interpolation  resize interpolation: bilinear (default) or bicubic\n"
    "Writes result_Files/<image>_0.bin (the model's outputs, float32 log-probabilities), model_info.txt\n"
    "(input shape and num_classes of the model) and time_Result/test_perform_static.txt in the current folder.\n";

int ParseInt(const std::string &name, const std::string &value) {
  char *end = nullptr;
  long number = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || number < 0 || number > 1024) {
    throw AppError("--" + name + " must be an integer from 0 to 1024, got '" + value + "'.");
  }
  return static_cast<int>(number);
}

double ParseNumber(const std::string &name, const std::string &value) {
  char *end = nullptr;
  double number = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0') throw AppError("--" + name + " must be a number, got '" + value + "'.");
  return number;
}

/** Three numbers written R,G,B or [R, G, B] (as in the YAML files). */
std::array<double, 3> ParseTriple(const std::string &name, const std::string &value) {
  std::string text = value;
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '[' || c == ']' || c == ','; }, ' ');
  std::istringstream words(text);
  std::vector<std::string> parts(std::istream_iterator<std::string>(words), {});
  if (parts.size() != 3) {
    throw AppError("--" + name + " must be three numbers R,G,B (e.g. 0.5,0.5,0.5), got '" + value + "'.");
  }
  return {ParseNumber(name, parts[0]), ParseNumber(name, parts[1]), ParseNumber(name, parts[2])};
}

bool ParseBool(const std::string &name, const std::string &value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  throw AppError("--" + name + " must be true or false, got '" + value + "'.");
}

}  // namespace

Flags ParseFlags(int argc, char **argv) {
  Flags flags;
  std::map<std::string, std::string> given;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) {
      throw AppError("unexpected argument '" + arg + "': flags are written --name=value.\n" + kUsage);
    }
    std::string name = arg.substr(2);
    std::string value;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (name == "save_inputs") {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw AppError("flag --" + name + " needs a value.");
    }
    if (name == "mindir_path") name = "model_path";
    if (given.count(name)) throw AppError("flag --" + name + " is given twice.");
    given[name] = value;
  }
  for (const auto &[name, value] : given) {
    if (name == "model_path") {
      flags.model_path = value;
    } else if (name == "dataset_path") {
      flags.dataset_path = value;
    } else if (name == "device_type") {
      flags.device_type = value;
    } else if (name == "device_id") {
      flags.device_id = ParseInt(name, value);
    } else if (name == "save_inputs") {
      flags.save_inputs = ParseBool(name, value);
    } else if (name == "crop_pct") {
      flags.preprocessing.crop_pct = ParseNumber(name, value);
    } else if (name == "image_mean") {
      flags.preprocessing.image_mean = ParseTriple(name, value);
    } else if (name == "image_std") {
      flags.preprocessing.image_std = ParseTriple(name, value);
    } else if (name == "interpolation") {
      flags.preprocessing.interpolation = value;
    } else {
      throw AppError("unknown flag --" + name + ".\n" + kUsage);
    }
    if (name == "crop_pct" || name == "image_mean" || name == "image_std" || name == "interpolation") {
      flags.given_preprocessing.insert(name);
    }
  }
  CheckPreprocessing(flags.preprocessing, "on the command line");
  if (flags.model_path.empty()) throw AppError("--model_path is required.\n" + std::string(kUsage));
  if (flags.dataset_path.empty()) throw AppError("--dataset_path is required.\n" + std::string(kUsage));
  if (flags.device_type != "CPU" && flags.device_type != "Ascend") {
    throw AppError("--device_type must be CPU or Ascend, got '" + flags.device_type + "'.");
  }
  return flags;
}
