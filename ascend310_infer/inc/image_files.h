/** The images of a dataset folder: flat, or one sub-folder per class as in ImageNet's val layout. */
#ifndef INCEPTIONV4_INFER_IMAGE_FILES_H_
#define INCEPTIONV4_INFER_IMAGE_FILES_H_

#include <string>
#include <vector>

struct ImageFile {
  std::string path;
  std::string stem;  // file name without its extension: names the result file
};

/** Image files (.jpeg/.jpg/.png/.bmp/.tif/.tiff, any case) in `dataset_path` and its immediate sub-folders, sorted
 *  by path. Other files are skipped with a warning on stderr. Throws AppError if the folder is missing
 *  or holds no image, or if two images share a stem (their result files would collide). */
std::vector<ImageFile> ListImages(const std::string &dataset_path);

#endif  // INCEPTIONV4_INFER_IMAGE_FILES_H_
