#include "image_files.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "app_error.h"

namespace fs = std::filesystem;

namespace {

// The endings src/inputs/files.py IMAGE_EXTENSIONS reads, compared case-insensitively.
const std::set<std::string> kImageExtensions = {".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff"};

bool IsImage(const fs::path &path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return kImageExtensions.count(ext) > 0;
}

std::vector<fs::path> SortedEntries(const fs::path &folder) {
  std::vector<fs::path> entries;
  for (const auto &entry : fs::directory_iterator(folder)) entries.push_back(entry.path());
  std::sort(entries.begin(), entries.end());
  return entries;
}

void Warn(const fs::path &path, const std::string &why) {
  std::cerr << "warning: skipping '" << path.string() << "': " << why << std::endl;
}

}  // namespace

std::vector<ImageFile> ListImages(const std::string &dataset_path) {
  std::error_code err;
  if (!fs::is_directory(dataset_path, err)) {
    throw AppError("dataset folder '" + fs::absolute(dataset_path).string() + "' does not exist or is not a folder: "
                   "pass --dataset_path with a folder of images (or of class folders of images).");
  }
  std::vector<fs::path> files;
  for (const fs::path &entry : SortedEntries(dataset_path)) {
    if (fs::is_directory(entry)) {
      for (const fs::path &inner : SortedEntries(entry)) {
        if (fs::is_directory(inner)) {
          Warn(inner, "folders are read one level deep (<dataset_path>/<class>/<image>)");
        } else {
          files.push_back(inner);
        }
      }
    } else {
      files.push_back(entry);
    }
  }
  std::vector<ImageFile> images;
  std::map<std::string, std::string> seen;  // stem -> path
  for (const fs::path &file : files) {
    if (!IsImage(file)) {
      Warn(file, "not an image file (.jpeg, .jpg, .png, .bmp, .tif or .tiff)");
      continue;
    }
    std::string stem = file.stem().string();
    auto [it, inserted] = seen.emplace(stem, file.string());
    if (!inserted) {
      throw AppError("images '" + it->second + "' and '" + file.string() + "' have the same name '" + stem +
                     "', so their result files would overwrite each other: rename one of them.");
    }
    images.push_back({file.string(), stem});
  }
  if (images.empty()) {
    throw AppError("dataset folder '" + dataset_path + "' holds no image (.jpeg, .jpg, .png, .bmp, .tif or .tiff), "
                   "neither directly nor in its sub-folders.");
  }
  return images;
}
