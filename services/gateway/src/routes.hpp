#pragma once
// Every path the gateway answers, in one table (routes.cpp), as Envoy declares its admin
// handlers: the path, whose shapes its errors take, what kind of session it opens, its request
// weight, where it runs (whether it may block), and the handler. The HTTP session looks
// a request up here and does what the route says; the handlers are plain functions (handlers.hpp).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api.hpp"

namespace cryptoflow::gateway {

// Whose error shapes a path's answers take: Binance's {"code","msg"}, CoinGecko's, or the native
// {"error":{...}}.
enum class Dialect { binance, coingecko, native };

// What a path opens: a call (request, answer) or a stream.
enum class Session {
  call,
  sse,             // /v1/stream: Server-Sent Events
  binance_ws,      // /binance/ws[/<streams>]: Binance's raw streams
  binance_stream,  // /binance/stream?streams=: Binance's combined streams
  native_ws,       // /v1/ws
};

// Where a call is answered. Only `io` runs on the I/O thread, and no handler placed there may
// block: a call that may wait (InfluxDB, the Kafka cluster) or whose cost grows with the symbols
// held runs on a worker, and its answer comes back to the I/O thread.
enum class Runs {
  io,       // bounded work over the in-memory stores
  heavy,    // the heavy worker: cost grows with the symbols held (ticker/24hr of all)
  history,  // the history worker: candles older than the store holds (INFLUX_URL)
  browser,  // the topic browser's worker: waits on the cluster
};

using Handler = Response (*)(const Request&, const ApiContext&);

struct Route {
  // The path: "{}" is one non-empty segment (handed to the handler in Request::params), a final
  // "*" the rest of the path.
  std::string_view pattern;
  Dialect dialect;
  Session session = Session::call;
  Handler handle = nullptr;                                   // calls on io, heavy and history
  int (*weight)(const Request&) = nullptr;                    // Binance's REQUEST_WEIGHT; none: 1
  Runs (*runs)(const Request&, const ApiContext&) = nullptr;  // none: io
};

// The table, in the order it is matched.
std::span<const Route> routes();

// The route a path takes, with the values of its "{}" segments; nothing for a path no route has
// (static files, or a 404 in the dialect of the prefix it is under).
struct RouteMatch {
  const Route* route = nullptr;
  std::vector<std::string> params;
};
std::optional<RouteMatch> match_route(std::string_view path);

// The dialect of the prefix a path is under (/binance, /coingecko, /v1), if any.
std::optional<Dialect> dialect_of(std::string_view path);
// Where the route runs this request, and what it weighs.
Runs runs_on(const Route& route, const Request& request, const ApiContext& context);
int route_weight(const Route& route, const Request& request);

// Answers in the dialect's shape.
Response not_found(Dialect d, std::string_view path);
Response duplicate_parameter(Dialect d, const std::string& name);

}  // namespace cryptoflow::gateway
