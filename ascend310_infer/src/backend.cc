#include "backend.h"

#include "app_error.h"

std::unique_ptr<Backend> CreateBackend(const std::string &device_type, const std::string &model_path,
                                       int device_id) {
  if (device_type == "CPU") return CreateOpenCvBackend(model_path);
#ifdef ENABLE_MINDSPORE_BACKEND
  return CreateMindSporeBackend(model_path, device_id);
#else
  (void)device_id;
  throw AppError("--device_type=" + device_type + " needs the MindSpore backend, which this build of main "
                 "does not have (MindSpore's C++ API was not found when it was compiled; build.sh says why). "
                 "Install MindSpore for Ascend and rebuild with 'MINDSPORE_PATH=<dir with include/api/model.h "
                 "and lib/libmindspore.so> bash build.sh', or run the ONNX model with --device_type=CPU.");
#endif
}
