#include "model_file.h"

#include <fstream>
#include <optional>
#include <set>
#include <stdexcept>

#include "app_error.h"

namespace {

// Field numbers from onnx.proto (ModelProto.metadata_props: StringStringEntryProto key/value) and
// MindSpore's mind_ir.proto (ModelProto.user_info: map<string, string>, encoded as key/value entries).
constexpr uint64_t kModelGraph = 7;
constexpr uint64_t kModelMetadata = 14;
constexpr uint64_t kEntryKey = 1;
constexpr uint64_t kEntryValue = 2;
constexpr uint64_t kGraphNode = 1;
constexpr uint64_t kNodeOpType = 4;
constexpr uint64_t kGraphInitializer = 5;
constexpr uint64_t kGraphInput = 11;
constexpr uint64_t kTensorName = 8;
constexpr uint64_t kValueInfoName = 1;
constexpr uint64_t kValueInfoType = 2;
constexpr uint64_t kTypeTensor = 1;
constexpr uint64_t kTensorTypeShape = 2;
constexpr uint64_t kShapeDim = 1;
constexpr uint64_t kDimValue = 1;

enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

struct Field {
  uint64_t number;
  int wire_type;
  uint64_t value;  // the varint value, or the payload length of a length-delimited field
  std::streamoff start;  // where a length-delimited payload begins
};

/** Walks protobuf messages in a file, seeking past the payloads it is not asked to read. */
class ProtoReader {
 public:
  explicit ProtoReader(std::ifstream *file) : file_(file) {}

  /** Read the next field header before `end`; false at `end`. */
  bool Next(std::streamoff end, Field *field) {
    if (Tell() >= end) return false;
    uint64_t tag = Varint();
    field->number = tag >> 3;
    field->wire_type = static_cast<int>(tag & 7);
    field->value = 0;
    switch (field->wire_type) {
      case kVarint:
        field->value = Varint();
        break;
      case kFixed64:
        Seek(Tell() + 8);
        break;
      case kFixed32:
        Seek(Tell() + 4);
        break;
      case kLengthDelimited:
        field->value = Varint();
        field->start = Tell();
        Seek(field->start + static_cast<std::streamoff>(field->value));
        break;
      default:
        throw std::runtime_error("unsupported protobuf wire type");
    }
    if (Tell() > end) throw std::runtime_error("field runs past its message");
    return true;
  }

  std::string String(const Field &field) {
    std::string text(field.value, '\0');
    std::streamoff after = Tell();
    Seek(field.start);
    file_->read(text.data(), static_cast<std::streamsize>(field.value));
    Seek(after);
    return text;
  }

  std::streamoff Tell() { return file_->tellg(); }
  void Seek(std::streamoff pos) {
    file_->seekg(pos);
    if (!*file_) throw std::runtime_error("unexpected end of file");
  }

 private:
  uint64_t Varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      int byte = file_->get();
      if (byte == EOF) throw std::runtime_error("unexpected end of file");
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    throw std::runtime_error("malformed varint");
  }

  std::ifstream *file_;
};

/** Find the first length-delimited field `number` inside [start, end); false if absent. */
bool Child(ProtoReader *reader, std::streamoff start, std::streamoff end, uint64_t number, Field *out) {
  reader->Seek(start);
  Field field;
  while (reader->Next(end, &field)) {
    if (field.number == number && field.wire_type == kLengthDelimited) {
      *out = field;
      return true;
    }
  }
  return false;
}

std::streamoff End(const Field &field) { return field.start + static_cast<std::streamoff>(field.value); }

std::vector<int64_t> Dims(ProtoReader *reader, const Field &value_info) {
  Field type, tensor, shape;
  if (!Child(reader, value_info.start, End(value_info), kValueInfoType, &type) ||
      !Child(reader, type.start, End(type), kTypeTensor, &tensor) ||
      !Child(reader, tensor.start, End(tensor), kTensorTypeShape, &shape)) {
    return {};
  }
  std::vector<int64_t> dims;
  Field dim;
  reader->Seek(shape.start);
  while (reader->Next(End(shape), &dim)) {
    if (dim.number != kShapeDim || dim.wire_type != kLengthDelimited) continue;
    std::streamoff after = reader->Tell();
    reader->Seek(dim.start);
    int64_t size = -1;  // dim_param (symbolic) or unset
    Field entry;
    while (reader->Next(End(dim), &entry)) {
      if (entry.number == kDimValue && entry.wire_type == kVarint) size = static_cast<int64_t>(entry.value);
    }
    dims.push_back(size);
    reader->Seek(after);
  }
  return dims;
}

}  // namespace

std::vector<int64_t> OnnxInputShape(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw AppError("cannot open model '" + path + "'.");
  file.seekg(0, std::ios::end);
  std::streamoff size = file.tellg();
  file.seekg(0);
  ProtoReader reader(&file);
  try {
    Field graph;
    if (!Child(&reader, 0, size, kModelGraph, &graph)) throw std::runtime_error("no graph");
    std::set<std::string> initializers;
    std::vector<Field> inputs;
    Field field;
    reader.Seek(graph.start);
    while (reader.Next(End(graph), &field)) {
      if (field.wire_type != kLengthDelimited) continue;
      if (field.number == kGraphInput) inputs.push_back(field);
      if (field.number == kGraphInitializer) {
        std::streamoff after = reader.Tell();
        Field name;
        if (Child(&reader, field.start, End(field), kTensorName, &name)) initializers.insert(reader.String(name));
        reader.Seek(after);
      }
    }
    for (const Field &input : inputs) {
      Field name;
      if (!Child(&reader, input.start, End(input), kValueInfoName, &name)) continue;
      if (initializers.count(reader.String(name))) continue;
      std::vector<int64_t> dims = Dims(&reader, input);
      if (dims.empty()) break;
      return dims;
    }
  } catch (const std::runtime_error &err) {
    throw AppError("'" + path + "' is not a readable ONNX model (" + err.what() +
                   "): export it with export.py --file_format ONNX.");
  }
  throw AppError("ONNX model '" + path + "' declares no input shape: export it with export.py --file_format ONNX.");
}

std::optional<std::string> ModelMetadata(const std::string &path, const std::string &key) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  file.seekg(0, std::ios::end);
  std::streamoff size = file.tellg();
  file.seekg(0);
  ProtoReader reader(&file);
  std::optional<std::string> found;
  try {
    Field entry;
    while (reader.Next(size, &entry)) {
      if (entry.number != kModelMetadata || entry.wire_type != kLengthDelimited) continue;
      std::streamoff after = reader.Tell();
      Field name, value;
      if (Child(&reader, entry.start, End(entry), kEntryKey, &name) && reader.String(name) == key) {
        found = Child(&reader, entry.start, End(entry), kEntryValue, &value) ? reader.String(value) : "";
      }
      reader.Seek(after);
    }
  } catch (const std::runtime_error &) {
    return std::nullopt;
  }
  return found;
}

bool OnnxIsQuantized(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return false;
  file.seekg(0, std::ios::end);
  std::streamoff size = file.tellg();
  file.seekg(0);
  ProtoReader reader(&file);
  try {
    Field graph, node, op;
    if (!Child(&reader, 0, size, kModelGraph, &graph)) return false;
    reader.Seek(graph.start);
    while (reader.Next(End(graph), &node)) {
      if (node.number != kGraphNode || node.wire_type != kLengthDelimited) continue;
      std::streamoff after = reader.Tell();
      if (Child(&reader, node.start, End(node), kNodeOpType, &op)) {
        std::string type = reader.String(op);
        if (type == "QuantizeLinear" || type == "DequantizeLinear" || type.rfind("QLinear", 0) == 0 ||
            type == "ConvInteger" || type == "MatMulInteger") {
          return true;
        }
      }
      reader.Seek(after);
    }
  } catch (const std::runtime_error &) {
  }
  return false;
}
