#include "cryptoflow/messages/schema.hpp"

#include <rapidjson/document.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>

#include <stdexcept>

#include "schemas_embedded.hpp"

namespace cryptoflow {

std::string_view schema_text(MessageKind kind) {
  switch (kind) {
    case MessageKind::trade: return embedded::kTradeV1;
    case MessageKind::ticker: return embedded::kTickerV1;
    case MessageKind::candle: return embedded::kCandleV1;
    case MessageKind::indicator: return embedded::kIndicatorV1;
    case MessageKind::book_snapshot: return embedded::kBookSnapshotV1;
    case MessageKind::book_update: return embedded::kBookUpdateV1;
    case MessageKind::book_resync: return embedded::kBookResyncV1;
  }
  throw std::logic_error("unknown message kind");
}

struct SchemaValidator::Impl {
  explicit Impl(const rapidjson::Document& d) : schema(d) {}
  rapidjson::SchemaDocument schema;
};

SchemaValidator::SchemaValidator(MessageKind kind) {
  const auto text = schema_text(kind);
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError()) throw std::logic_error("embedded schema does not parse");
  impl_ = std::make_unique<Impl>(d);
}

SchemaValidator::~SchemaValidator() = default;

std::string SchemaValidator::validate(std::string_view json) const {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (d.HasParseError()) return "malformed JSON at offset " + std::to_string(d.GetErrorOffset());
  rapidjson::SchemaValidator v(impl_->schema);
  if (d.Accept(v)) return {};
  rapidjson::StringBuffer where;
  v.GetInvalidDocumentPointer().StringifyUriFragment(where);
  return std::string(where.GetString()) + ": keyword '" + v.GetInvalidSchemaKeyword() + "' failed";
}

}  // namespace cryptoflow
