/** Reading and decoding image files. Truncated files are rejected before decoding, as the Python pipeline
 *  does (src/inputs/files.py): the JPEG decoder would fill the missing part with grey and only warn. Other
 *  damage is left to OpenCV's decoder, which then returns no image. */
#ifndef INCEPTIONV4_INFER_DECODE_H_
#define INCEPTIONV4_INFER_DECODE_H_

#include <string>
#include <vector>

#include <opencv2/core.hpp>

/** Why the bytes of an image file cannot be used (empty, not a JPEG/PNG/BMP/TIFF, truncated), or "" if
 *  they can. Reads the JPEG marker structure up to the image data, not the contents of the headers. */
std::string ImageDataProblem(const std::vector<unsigned char> &data);

/** Decode an image file to 8-bit BGR, ignoring EXIF orientation as MindSpore's Decode does. Returns an
 *  empty Mat and sets `problem` if the file cannot be read or decoded. */
cv::Mat DecodeImage(const std::string &path, std::string *problem);

#endif  // INCEPTIONV4_INFER_DECODE_H_
