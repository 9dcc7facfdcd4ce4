#include "decode.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>

#include <opencv2/imgcodecs.hpp>

namespace {

std::string JpegProblem(const std::vector<unsigned char> &data) {
  const std::string truncated = "truncated JPEG: it ends inside its headers";
  size_t pos = 2;
  while (true) {
    pos = std::find(data.begin() + pos, data.end(), 0xFF) - data.begin();  // libjpeg skips stray bytes
    while (pos + 1 < data.size() && data[pos + 1] == 0xFF) ++pos;           // fill bytes
    if (pos + 2 > data.size()) return truncated;
    unsigned char marker = data[pos + 1];
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length field
      pos += 2;
      continue;
    }
    if (marker == 0xD9) return "corrupt JPEG: it ends before any image data";
    if (pos + 4 > data.size()) return truncated;
    size_t length = (static_cast<size_t>(data[pos + 2]) << 8) | data[pos + 3];
    if (length < 2 || pos + 2 + length > data.size()) return truncated;
    pos += 2 + length;
    if (marker == 0xDA) break;  // start of scan: the compressed image data follows
  }
  for (size_t i = data.size() - 1; i > pos; --i) {
    if (data[i - 1] == 0xFF && data[i] == 0xD9) return "";
  }
  return "truncated JPEG: no end-of-image marker after its image data";
}

bool SameByte(unsigned char a, char b) { return a == static_cast<unsigned char>(b); }

bool StartsWith(const std::vector<unsigned char> &data, const std::string &prefix) {
  return data.size() >= prefix.size() && std::equal(data.begin(), data.begin() + prefix.size(), prefix.begin(),
                                                    SameByte);
}

}  // namespace

std::string ImageDataProblem(const std::vector<unsigned char> &data) {
  if (data.empty()) return "the file is empty";
  if (StartsWith(data, "\xFF\xD8\xFF")) return JpegProblem(data);
  if (StartsWith(data, "\x89PNG\r\n\x1A\n")) {
    static const std::string kEnd = "IEND";
    auto found = std::search(data.begin() + 8, data.end(), kEnd.begin(), kEnd.end(), SameByte);
    return found != data.end() ? "" : "truncated PNG: no IEND chunk";
  }
  if (StartsWith(data, "BM") && data.size() >= 6) {
    uint32_t declared = data[2] | (data[3] << 8) | (data[4] << 16) | (static_cast<uint32_t>(data[5]) << 24);
    if (data.size() >= declared) return "";
    return "truncated BMP: " + std::to_string(data.size()) + " of " + std::to_string(declared) + " bytes";
  }
  if (StartsWith(data, std::string("II*\0", 4)) || StartsWith(data, std::string("MM\0*", 4))) return "";
  return "not a JPEG, PNG, BMP or TIFF image";
}

cv::Mat DecodeImage(const std::string &path, std::string *problem) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    *problem = "cannot be read";
    return cv::Mat();
  }
  std::vector<unsigned char> data((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  *problem = ImageDataProblem(data);
  if (!problem->empty()) return cv::Mat();
  cv::Mat image = cv::imdecode(data, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  if (image.empty()) *problem = "the decoder cannot read it";
  return image;
}
