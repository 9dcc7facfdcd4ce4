/** A small JSON reader (RFC 8259) for the metadata export.py records in the model file. */
#ifndef INCEPTIONV4_INFER_JSON_H_
#define INCEPTIONV4_INFER_JSON_H_

#include <string>
#include <utility>
#include <vector>

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0.0;
  std::string string;
  std::vector<Json> items;                             // array elements
  std::vector<std::pair<std::string, Json>> members;  // object members, in file order

  /** The object member `key` (the last one if repeated, as Python's json does), or nullptr. */
  const Json *Find(const std::string &key) const;
};

/** Parse a JSON text; throws std::runtime_error naming the byte offset of the first problem. */
Json ParseJson(const std::string &text);

#endif  // INCEPTIONV4_INFER_JSON_H_
