/** Command-line flags in gflags syntax (--name=value or --name value), without the gflags library. */
#ifndef INCEPTIONV4_INFER_FLAGS_H_
#define INCEPTIONV4_INFER_FLAGS_H_

#include <set>
#include <string>

#include "preprocess.h"

struct Flags {
  std::string model_path;
  std::string dataset_path;
  std::string device_type = "CPU";
  int device_id = 0;
  bool save_inputs = false;
  Preprocessing preprocessing;                // the original's defaults with the preprocessing flags applied
  std::set<std::string> given_preprocessing;  // which of them were given: "crop_pct", "image_mean", ...
};

/** Parse argv; throws AppError naming the bad flag. Prints the usage and exits 0 on --help. */
Flags ParseFlags(int argc, char **argv);

#endif  // INCEPTIONV4_INFER_FLAGS_H_
