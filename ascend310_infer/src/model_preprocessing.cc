#include "model_preprocessing.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <vector>

#include "app_error.h"
#include "json.h"
#include "model_file.h"

namespace {

const char kMetadataKey[] = "inceptionv4_metadata";  // src/checkpoint.py METADATA_KEY
const char *const kKeys[] = {"image_mean", "image_std", "interpolation", "crop_pct"};

std::string JsonText(const Json &value) {  // a recorded value in a message
  switch (value.type) {
    case Json::Type::kNumber: return Repr(value.number);
    case Json::Type::kString: return "'" + value.string + "'";
    case Json::Type::kBool: return value.boolean ? "True" : "False";
    case Json::Type::kNull: return "None";
    case Json::Type::kArray: return "a list of " + std::to_string(value.items.size()) + " values";
    default: return "an object";
  }
}

std::array<double, 3> Triple(const Json &value, const std::string &key, const std::string &where) {
  bool ok = value.type == Json::Type::kArray && value.items.size() == 3 &&
            std::all_of(value.items.begin(), value.items.end(),
                        [](const Json &item) { return item.type == Json::Type::kNumber; });
  if (!ok) {
    throw AppError("'" + key + "' " + where + " must be three numbers (R, G, B on 0-1 pixels), got " +
                   JsonText(value) + ".");
  }
  return {value.items[0].number, value.items[1].number, value.items[2].number};
}

// src/inputs/preprocessing.py _differs: equal within math.isclose(rel_tol=1e-9, abs_tol=1e-12).
bool Differs(double a, double b) {
  return std::abs(a - b) > std::max(1e-9 * std::max(std::abs(a), std::abs(b)), 1e-12);
}
bool Differs(const std::array<double, 3> &a, const std::array<double, 3> &b) {
  return Differs(a[0], b[0]) || Differs(a[1], b[1]) || Differs(a[2], b[2]);
}
bool Differs(const std::string &a, const std::string &b) { return a != b; }

std::string Choice(const Json *value, const std::string &key, const std::string &where,
                   const std::vector<std::string> &allowed) {
  if (value && value->type == Json::Type::kString &&
      std::find(allowed.begin(), allowed.end(), value->string) != allowed.end()) {
    return value->string;
  }
  throw AppError("'" + key + "' " + where + " is " + (value ? JsonText(*value) : "missing") + "; allowed values: " +
                 allowed[0] + ", " + allowed[1] + ".");
}

Preprocessing FromJson(const Json &recorded, const std::string &where) {
  Preprocessing prep;
  prep.image_mean = Triple(*recorded.Find("image_mean"), "image_mean", where);
  prep.image_std = Triple(*recorded.Find("image_std"), "image_std", where);
  const Json &interpolation = *recorded.Find("interpolation");
  const Json &crop = *recorded.Find("crop_pct");
  if (interpolation.type != Json::Type::kString) {
    throw AppError("'interpolation' " + where + " is " + JsonText(interpolation) + "; allowed values: bilinear, "
                   "bicubic.");
  }
  if (crop.type != Json::Type::kNumber) {
    throw AppError("'crop_pct' " + where + " must lie in (0, 1], got " + JsonText(crop) + ".");
  }
  prep.interpolation = interpolation.string;
  prep.crop_pct = crop.number;
  CheckPreprocessing(prep, where);
  const Json *backend = recorded.Find("resize_backend");
  const Json *rounding = recorded.Find("resize_rounding");
  if (!backend && !rounding) {
    // Recorded before these fields (src/inputs/preprocessing.py _completed): timm's values (mean/std 0.5, bicubic,
    // crop_pct 0.875) are timm's record; any other is read as before (numpy, round).
    const Preprocessing timm{{0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, "bicubic", 0.875};
    if (!Differs(prep.image_mean, timm.image_mean) && !Differs(prep.image_std, timm.image_std) &&
        prep.interpolation == timm.interpolation && !Differs(prep.crop_pct, timm.crop_pct)) {
      prep.resize_backend = "pil";
      prep.resize_rounding = "floor";
    }
    return prep;
  }
  prep.resize_backend = Choice(backend, "resize_backend", where, {"numpy", "pil"});
  prep.resize_rounding = Choice(rounding, "resize_rounding", where, {"round", "floor"});
  return prep;
}

std::string Shown(double value) { return Repr(value); }
std::string Shown(const std::array<double, 3> &values) { return Repr(values); }
std::string Shown(const std::string &text) { return text; }

}  // namespace

Preprocessing ModelPreprocessing(const Flags &flags) {
  std::optional<std::string> text = ModelMetadata(flags.model_path, kMetadataKey);
  if (!text) return flags.preprocessing;
  Json metadata;
  try {
    metadata = ParseJson(*text);
  } catch (const std::runtime_error &) {
    throw AppError("'" + flags.model_path + "' holds unreadable " + kMetadataKey + " metadata: export it again "
                   "with export.py.");
  }
  const Json *recorded = metadata.type == Json::Type::kObject ? metadata.Find("preprocessing") : nullptr;
  if (recorded == nullptr || recorded->type != Json::Type::kObject ||
      !std::all_of(std::begin(kKeys), std::end(kKeys), [&](const char *key) { return recorded->Find(key); })) {
    return flags.preprocessing;
  }
  const std::string source = "'" + flags.model_path + "'";
  Preprocessing prep = FromJson(*recorded, "recorded in " + source);
  auto take_flag = [&](const std::string &key, const auto &wanted, auto *value) {
    if (!flags.given_preprocessing.count(key) || !Differs(wanted, *value)) return;
    std::cout << "preprocessing: --" << key << " " << Shown(wanted) << " differs from " << Shown(*value)
              << ", which " << source << " were trained with" << std::endl;
    *value = wanted;
  };
  const Preprocessing &wanted = flags.preprocessing;
  take_flag("image_mean", wanted.image_mean, &prep.image_mean);
  take_flag("image_std", wanted.image_std, &prep.image_std);
  take_flag("interpolation", wanted.interpolation, &prep.interpolation);
  take_flag("crop_pct", wanted.crop_pct, &prep.crop_pct);
  if (prep.resize_backend == "pil") {
    std::cout << "preprocessing: " << source << " records PIL's antialiased resize (timm's), which OpenCV cannot "
              "reproduce: resizing with OpenCV's " << prep.interpolation << " instead, so scores can differ slightly "
              "from eval.py and predict.py" << std::endl;
  }
  return prep;
}
