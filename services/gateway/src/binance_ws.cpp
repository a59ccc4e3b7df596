#include "binance_ws.hpp"

#include <rapidjson/document.h>

#include "api_detail.hpp"
#include "streams.hpp"

namespace cryptoflow::gateway {

namespace {

using detail::Writer;

void put_id(Writer& w, const rapidjson::Value* id) {
  detail::key(w, "id");
  if (id != nullptr)
    id->Accept(w);
  else
    w.Null();
}

// {"error":{"code":..,"msg":..},"id":..}: the REST error object, with the request's id.
std::string error(int code, std::string_view msg, const rapidjson::Value* id) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "error");
  detail::raw(w, binance_error(400, code, msg).body);
  put_id(w, id);
  w.EndObject();
  return detail::text(b);
}

// {"result":<result>,"id":..}
template <class Result>
std::string result(const rapidjson::Value* id, Result&& put) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  detail::key(w, "result");
  put(w);
  put_id(w, id);
  w.EndObject();
  return detail::text(b);
}

}  // namespace

std::variant<std::vector<std::string>, std::string> url_streams(std::string_view list, std::size_t max_streams) {
  std::vector<std::string> out;
  while (!list.empty()) {  // Binance separates streams with "/"
    const auto slash = list.find('/');
    if (slash != 0) out.emplace_back(list.substr(0, slash));
    if (slash == std::string_view::npos) break;
    list.remove_prefix(slash + 1);
  }
  for (const auto& n : out)
    for (const char c : n)
      if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
        return std::string("a stream name is printable ASCII");
  if (out.size() > max_streams) return "more than " + std::to_string(max_streams) + " streams";
  return out;
}

BinanceSubscriptions::BinanceSubscriptions(std::size_t max_streams, bool combined, Want want)
    : max_(max_streams), combined_(combined), want_(std::move(want)) {}

BinanceSubscriptions::~BinanceSubscriptions() {
  for (const auto& n : streams_) want_(n, false);
}

void BinanceSubscriptions::add(const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (streams_.insert(n).second) want_(n, true);
}

std::string BinanceSubscriptions::on_message(std::string_view text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError() || !d.IsObject()) return error(3, "Invalid JSON", nullptr);
  const auto* id = d.HasMember("id") ? &d["id"] : nullptr;
  if (id != nullptr && !id->IsInt64() && !id->IsString() && !id->IsNull())
    return error(1, "Invalid value type: expected an integer or a string for 'id'", nullptr);
  if (!d.HasMember("method") || !d["method"].IsString()) return error(2, "Invalid request: 'method' missing", id);
  const std::string method = d["method"].GetString();
  const rapidjson::Value none;
  const auto& params = d.HasMember("params") ? d["params"] : none;
  if (method == "LIST_SUBSCRIPTIONS") {
    return result(id, [&](Writer& w) {
      w.StartArray();
      for (const auto& s : streams_) detail::string(w, s);
      w.EndArray();
    });
  }
  // {"method":"SET_PROPERTY","params":["combined",true]}: payloads wrapped {"stream":..,"data":..}
  // or not; GET_PROPERTY answers the setting.
  if (method == "SET_PROPERTY" || method == "GET_PROPERTY") {
    if (!params.IsArray() || params.Empty() || !params[0].IsString())
      return error(1, "Invalid value type: expected an array [\"combined\", ...] for 'params'", id);
    if (std::string_view(params[0].GetString()) != "combined") return error(0, "Unknown property", id);
    if (method == "GET_PROPERTY") return result(id, [&](Writer& w) { w.Bool(combined_); });
    if (params.Size() != 2 || !params[1].IsBool()) return error(1, "Invalid value type: expected Boolean", id);
    combined_ = params[1].GetBool();
    return result(id, [](Writer& w) { w.Null(); });
  }
  if (method != "SUBSCRIBE" && method != "UNSUBSCRIBE")
    return error(2, "Invalid request: unknown method " + method, id);
  if (!params.IsArray()) return error(1, "Invalid value type: expected an array for 'params'", id);
  std::vector<std::string> names;
  for (const auto& p : params.GetArray()) {
    if (!p.IsString()) return error(1, "Invalid value type: a stream name is a string", id);
    names.emplace_back(p.GetString(), p.GetStringLength());
  }
  if (method == "SUBSCRIBE") {
    for (const auto& n : names)
      if (const auto parsed = parse_stream(n); !parsed.stream) return error(2, "Invalid request: " + parsed.why, id);
    if (streams_.size() + names.size() > max_)
      return error(2, "Invalid request: more than " + std::to_string(max_) + " streams", id);
    add(names);
  } else {
    for (const auto& n : names)
      if (streams_.erase(n) != 0) want_(n, false);
  }
  return result(id, [](Writer& w) { w.Null(); });
}

std::string combined_frame(std::string_view stream, std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + stream.size() + 24);
  out.append(R"({"stream":")").append(stream).append(R"(","data":)").append(payload).append("}");
  return out;
}

}  // namespace cryptoflow::gateway
