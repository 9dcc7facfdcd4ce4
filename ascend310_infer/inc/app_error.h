/**
 * Errors the user can fix (bad flag, missing file, wrong model): main() prints "error: <message>" and
 * exits with kUsageExitCode, as the project's Python entry points do.
 */
#ifndef INCEPTIONV4_INFER_APP_ERROR_H_
#define INCEPTIONV4_INFER_APP_ERROR_H_

#include <stdexcept>
#include <string>

constexpr int kUsageExitCode = 2;

class AppError : public std::runtime_error {
 public:
  explicit AppError(const std::string &message) : std::runtime_error(message) {}
};

#endif  // INCEPTIONV4_INFER_APP_ERROR_H_
