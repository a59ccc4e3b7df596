#pragma once
// Binance's WebSocket protocol (https://developers.binance.com/docs/binance-spot-api-docs/
// web-socket-streams), the other half of binance_api.cpp, without sockets: the streams a URL
// names, and a connection's subscriptions with their control messages (SUBSCRIBE, UNSUBSCRIBE,
// LIST_SUBSCRIPTIONS, SET_PROPERTY / GET_PROPERTY "combined"). ws_session.cpp carries it.
#include <cstddef>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cryptoflow::gateway {

// The streams of /binance/ws/<a>/<b> or /binance/stream?streams=<a>/<b>. As at Binance, a name
// that is no stream is taken and sends nothing (ccxt opens /ws/0 and then SUBSCRIBEs); one with
// bytes no name has (control characters, spaces, non-ASCII) is refused: the error is the text.
std::variant<std::vector<std::string>, std::string> url_streams(std::string_view list, std::size_t max_streams);

class BinanceSubscriptions {
 public:
  // want(name, true) when the connection takes a stream, (name, false) when it drops it (and for
  // each one left when it is destroyed): the server counts who wants which stream.
  using Want = std::function<void(const std::string& name, bool on)>;
  BinanceSubscriptions(std::size_t max_streams, bool combined, Want want);
  ~BinanceSubscriptions();
  BinanceSubscriptions(const BinanceSubscriptions&) = delete;
  BinanceSubscriptions& operator=(const BinanceSubscriptions&) = delete;

  void add(const std::vector<std::string>& names);  // the URL's (url_streams)
  // The answer to a client's text message: {"result":..,"id":..} or {"error":{"code","msg"},"id":..}.
  std::string on_message(std::string_view text);

  [[nodiscard]] bool has(const std::string& stream) const { return streams_.contains(stream); }
  [[nodiscard]] bool combined() const { return combined_; }  // payloads wrapped {"stream":..,"data":..}
  [[nodiscard]] const std::set<std::string>& streams() const { return streams_; }

 private:
  std::size_t max_;
  bool combined_;
  Want want_;
  std::set<std::string> streams_;
};

// A payload as a combined stream carries it: {"stream":"<name>","data":<payload>}.
std::string combined_frame(std::string_view stream, std::string_view payload);

}  // namespace cryptoflow::gateway
