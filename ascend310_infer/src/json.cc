#include "json.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace {

constexpr int kMaxDepth = 500;  // nesting limit, so a hostile file cannot exhaust the stack

class Parser {
 public:
  explicit Parser(const std::string &text) : text_(text) {}

  Json Document() {
    Json value = Value(0);
    SkipSpace();
    if (pos_ != text_.size()) Fail("extra data after the value");
    return value;
  }

 private:
  [[noreturn]] void Fail(const std::string &what) const {
    throw std::runtime_error(what + " at byte " + std::to_string(pos_));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Literal(const char *word) {
    size_t length = std::strlen(word);
    if (text_.compare(pos_, length, word) != 0) return false;
    pos_ += length;
    return true;
  }

  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  void Expect(char c) {
    SkipSpace();
    if (Peek() != c) Fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  /** Skip a ',' between elements; false if there is none. */
  bool Separator() {
    SkipSpace();
    if (Peek() != ',') return false;
    ++pos_;
    return true;
  }

  Json Value(int depth) {
    if (depth > kMaxDepth) Fail("nesting too deep");
    SkipSpace();
    Json value;
    char c = Peek();
    if (c == '{') {
      value.type = Json::Type::kObject;
      ++pos_;
      SkipSpace();
      if (Peek() == '}') {
        ++pos_;
        return value;
      }
      do {
        SkipSpace();
        if (Peek() != '"') Fail("expected a member name");
        std::string key = String();
        Expect(':');
        value.members.emplace_back(std::move(key), Value(depth + 1));
      } while (Separator());
      Expect('}');
    } else if (c == '[') {
      value.type = Json::Type::kArray;
      ++pos_;
      SkipSpace();
      if (Peek() == ']') {
        ++pos_;
        return value;
      }
      do {
        value.items.push_back(Value(depth + 1));
      } while (Separator());
      Expect(']');
    } else if (c == '"') {
      value.type = Json::Type::kString;
      value.string = String();
    } else if (Literal("true")) {
      value.type = Json::Type::kBool;
      value.boolean = true;
    } else if (Literal("false")) {
      value.type = Json::Type::kBool;
    } else if (Literal("null")) {
      value.type = Json::Type::kNull;
    } else {
      value.type = Json::Type::kNumber;
      value.number = Number();
    }
    return value;
  }

  /** A number as JSON writes it, or NaN / Infinity / -Infinity as Python's json module writes non-finite floats. */
  double Number() {
    if (Literal("NaN")) return std::numeric_limits<double>::quiet_NaN();
    if (Literal("Infinity")) return std::numeric_limits<double>::infinity();
    if (Literal("-Infinity")) return -std::numeric_limits<double>::infinity();
    size_t start = pos_;
    auto digits = [this]() {
      size_t first = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > first;
    };
    if (Peek() == '-') ++pos_;
    if (Peek() == '0') {
      ++pos_;
    } else if (!digits()) {
      pos_ = start;
      Fail("expected a value");
    }
    if (Peek() == '.' && (++pos_, !digits())) Fail("expected digits after '.'");
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!digits()) Fail("expected an exponent");
    }
    return std::strtod(text_.substr(start, pos_ - start).c_str(), nullptr);  // correctly rounded, as Python
  }

  unsigned Hex4() {
    if (pos_ + 4 > text_.size()) Fail("truncated \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9') {
        code |= h - '0';
      } else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f') {
        code |= (h | 0x20) - 'a' + 10;
      } else {
        Fail("bad \\u escape");
      }
    }
    return code;
  }

  static void AppendUtf8(unsigned code, std::string *out) {
    if (code < 0x80) {
      *out += static_cast<char>(code);
    } else if (code < 0x800) {
      *out += static_cast<char>(0xC0 | (code >> 6));
      *out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      *out += static_cast<char>(0xE0 | (code >> 12));
      *out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      *out += static_cast<char>(0xF0 | (code >> 18));
      *out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      *out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      *out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  std::string String() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) Fail("unterminated string");
      char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) Fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) Fail("unterminated string");
      char e = text_[pos_++];
      static const std::string kEscapes = "\"\\/bfnrt", kMeanings = "\"\\/\b\f\n\r\t";
      if (e != 'u') {
        size_t which = kEscapes.find(e);
        if (which == std::string::npos) Fail("bad escape");
        out += kMeanings[which];
        continue;
      }
      unsigned code = Hex4();
      if (code >= 0xD800 && code < 0xDC00 && text_.compare(pos_, 2, "\\u") == 0) {  // surrogate pair
        size_t before = pos_;
        pos_ += 2;
        unsigned low = Hex4();
        if (low >= 0xDC00 && low < 0xE000) {
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        } else {
          pos_ = before;
        }
      }
      AppendUtf8(code, &out);
    }
  }

  const std::string &text_;
  size_t pos_ = 0;
};

}  // namespace

const Json *Json::Find(const std::string &key) const {
  const Json *found = nullptr;
  for (const auto &[name, value] : members) {
    if (name == key) found = &value;
  }
  return found;
}

Json ParseJson(const std::string &text) { return Parser(text).Document(); }
