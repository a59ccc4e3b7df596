#pragma once
// JSON Schema validation of topic messages against proto/*.v1.json (draft-04), compiled into
// the library so a service needs no schema files at run time.
#include <memory>
#include <string>
#include <string_view>

namespace cryptoflow {

enum class MessageKind { trade, ticker, candle, indicator, book_snapshot, book_update, book_resync };

// The schema document for a kind, exactly as in proto/.
std::string_view schema_text(MessageKind kind);

class SchemaValidator {
 public:
  explicit SchemaValidator(MessageKind kind);
  ~SchemaValidator();
  SchemaValidator(const SchemaValidator&) = delete;
  SchemaValidator& operator=(const SchemaValidator&) = delete;

  // Empty when json conforms; otherwise why not ("#/price: keyword 'type' failed").
  [[nodiscard]] std::string validate(std::string_view json) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cryptoflow
