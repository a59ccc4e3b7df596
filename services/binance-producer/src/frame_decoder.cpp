#include "frame_decoder.hpp"

#include <rapidjson/document.h>

#include <cctype>

namespace cryptoflow::binance {
namespace {

using Value = rapidjson::Value;

struct Reader {
  const Value& obj;
  std::string error;

  const Value* get(const char* k) {
    if (!error.empty()) return nullptr;
    auto it = obj.FindMember(k);
    if (it == obj.MemberEnd()) {
      error = std::string("field '") + k + "': missing";
      return nullptr;
    }
    return &it->value;
  }
  std::int64_t i64(const char* k) {
    const auto* v = get(k);
    if (!v) return 0;
    if (!v->IsInt64() || v->GetInt64() < 0) {
      error = std::string("field '") + k + "': expected a non-negative integer";
      return 0;
    }
    return v->GetInt64();
  }
  Decimal dec(const char* k) {
    const auto* v = get(k);
    if (!v) return {};
    if (!v->IsString()) {
      error = std::string("field '") + k + "': expected a decimal string";
      return {};
    }
    auto d = Decimal::parse(std::string_view(v->GetString(), v->GetStringLength()));
    if (!d || *d < Decimal()) {
      error = std::string("field '") + k + "': not a non-negative decimal";
      return {};
    }
    return *d;
  }
  bool boolean(const char* k) {
    const auto* v = get(k);
    if (!v) return false;
    if (!v->IsBool()) {
      error = std::string("field '") + k + "': expected true or false";
      return false;
    }
    return v->GetBool();
  }
  std::string symbol(const char* k) {
    const auto* v = get(k);
    if (!v) return {};
    if (!v->IsString() || v->GetStringLength() == 0 || v->GetStringLength() > 32) {
      error = std::string("field '") + k + "': expected a symbol";
      return {};
    }
    std::string s(v->GetString(), v->GetStringLength());
    for (auto& c : s) {
      if (!std::isalnum(static_cast<unsigned char>(c))) {
        error = std::string("field '") + k + "': symbol has characters other than letters and digits";
        return {};
      }
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return s;
  }
};

}  // namespace

DecodedFrame decode_frame(std::string_view frame, std::int64_t received_time_ms) {
  DecodedFrame out;
  if (frame.size() > kMaxFrameBytes) {
    out.error = "frame of " + std::to_string(frame.size()) + " bytes exceeds the limit";
    return out;
  }
  char value_buf[8192];
  char parse_buf[1024];
  rapidjson::MemoryPoolAllocator<> value_alloc(value_buf, sizeof value_buf);
  rapidjson::MemoryPoolAllocator<> parse_alloc(parse_buf, sizeof parse_buf);
  rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>, rapidjson::MemoryPoolAllocator<>> doc(
      &value_alloc, sizeof parse_buf, &parse_alloc);
  doc.Parse<rapidjson::kParseIterativeFlag>(frame.data(), frame.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    out.error = doc.HasParseError() ? "malformed JSON at offset " + std::to_string(doc.GetErrorOffset())
                                    : "frame is not a JSON object";
    return out;
  }
  const Value* event = &doc;
  if (auto data = doc.FindMember("data"); data != doc.MemberEnd() && doc.HasMember("stream")) {
    if (!data->value.IsObject()) {
      out.error = "field 'data': expected an object";
      return out;
    }
    event = &data->value;
  }
  auto type = event->FindMember("e");
  if (type == event->MemberEnd() || !type->value.IsString()) {
    out.kind = FrameKind::ignored;  // subscription replies, bookTicker, ...
    return out;
  }
  const std::string_view e(type->value.GetString(), type->value.GetStringLength());
  const bool agg = e == "aggTrade";
  if (e == "serverShutdown") {
    out.kind = FrameKind::server_shutdown;
    return out;
  }
  if (!agg && e != "trade") {
    out.kind = FrameKind::ignored;
    return out;
  }
  Reader r{*event, {}};
  Trade& t = out.trade;
  t.source = "binance";
  t.symbol = r.symbol("s");
  t.trade_id = r.i64(agg ? "a" : "t");
  t.price = r.dec("p");
  t.quantity = r.dec("q");
  t.buyer_is_maker = r.boolean("m");
  t.event_time = to_millis(r.i64("E"));
  t.trade_time = to_millis(r.i64("T"));
  t.received_time = received_time_ms;
  if (agg) {
    t.first_trade_id = r.i64("f");
    t.last_trade_id = r.i64("l");
    if (r.error.empty() && *t.last_trade_id < *t.first_trade_id) r.error = "field 'l': below field 'f'";
  }
  if (r.error.empty()) r.error = check_trade(t);  // what the schema states beyond types
  if (!r.error.empty()) {
    out.kind = FrameKind::invalid;
    out.error = std::move(r.error);
    return out;
  }
  out.kind = FrameKind::trade;
  return out;
}

}  // namespace cryptoflow::binance
