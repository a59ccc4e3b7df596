#pragma once
// What the gateway's sessions share (not part of the server's interface): the server's state
// (Server::Impl), a connection's slot against the connection limits, the bounded queue and the
// write loop of a streaming session, and how each kind of session starts:
//   http_session.cpp   requests on a kept-alive connection; looks each up in routes.hpp
//   sse_session.cpp    /v1/stream (Server-Sent Events)
//   ws_session.cpp     the WebSockets: Binance's streams (binance_ws.hpp) and /v1/ws
// Everything here runs on the I/O thread.
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cryptoflow/runtime/log.hpp"
#include "limits.hpp"
#include "rollup.hpp"
#include "routes.hpp"
#include "server.hpp"

namespace cryptoflow::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct Server::Impl {
  Impl(ServerOptions options, const MarketStore& store, MetricsRegistry& metrics, std::shared_ptr<TopicBrowser> browser,
       std::unique_ptr<CandleHistory> history, const TradeStore* trades, const BookStore* books);

  ServerOptions o;
  const MarketStore& store;
  const TradeStore* trades;
  const BookStore* books;
  // The books' streams: a second's diffs gathered per symbol for <symbol>@depth, the symbols
  // whose book changed since the last tick (for @depth<N>), the best levels last sent on
  // @bookTicker (an event goes out only when they change).
  struct Gathered {
    BookRecord diff;
    Book::Bids bids;
    Book::Asks asks;
  };
  std::map<std::string, Gathered, std::less<>> gathered;
  std::set<std::string> books_changed;
  std::map<std::string, std::string, std::less<>> best_sent;
  // The Binance streams some WebSocket client names (how many name each), the symbols whose
  // candles or trades changed since the last tick of the derived streams, and the aggregate
  // trade being formed per symbol fed single trades.
  std::map<std::string, std::size_t, std::less<>> wanted;
  std::set<std::string> changed;
  RunFormer forming;
  std::shared_ptr<TopicBrowser> browser;
  std::unique_ptr<CandleHistory> history;
  std::unique_ptr<Worker> history_worker;  // its thread queries the history
  Worker heavy_worker{64};                 // calls whose cost grows with the symbols held
  Hub hub;
  std::size_t connections = 0;
  std::unordered_map<std::string, std::size_t> per_address;  // open connections by client address
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, Bucket> buckets;
  WeightLimiter weights;
  Counter& requests;
  Counter& rate_limited;
  Counter& weight_limited;
  Counter& banned;
  Counter& refused;
  Counter& refused_per_address;
  Counter& accept_errors;
  Counter& request_timeouts;
  Counter& dropped;
  Counter& stalled;
  Counter& history_queries;
  Counter& history_failures;
  Gauge& open_connections;
  Gauge& streaming;
  Gauge& max_connections_gauge;
  std::atomic<bool> accepting{true};
  bool accept_failing = false;  // the last accept failed: retried after a pause
  std::chrono::milliseconds accept_delay{0};
  RateLimitedLog accept_log;
  // Last: destroyed first, with the handlers it holds (sessions), while the above still exist.
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_pause{ioc};
  asio::steady_timer derived_timer{ioc};
  std::thread thread;

  void accept();
  void want(const std::string& stream, bool on);
  [[nodiscard]] bool is_wanted(const std::string& stream) const { return wanted.contains(stream); }
  void on_event(Event e);
  void on_trade(const Event& e);
  void on_book(const Event& e);
  void tick_books();
  void tick_derived();
  void on_accept_error(const beast::error_code& ec);
  void update_accepting() { accepting = !accept_failing && connections < o.max_connections; }
  bool allow(const std::string& client);
};

// One connection counted from accept to close, whichever session holds it, against the total
// and against its client's address (none for a trusted proxy's own connection).
class Slot {
 public:
  Slot(Server::Impl& s, std::string address) : s_(&s), address_(std::move(address)) {
    ++s.connections;
    if (!address_.empty()) ++s.per_address[address_];
    s.open_connections.set(static_cast<double>(s.connections));
    s.update_accepting();
  }
  Slot(Slot&& other) noexcept : s_(std::exchange(other.s_, nullptr)), address_(std::move(other.address_)) {}
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  Slot& operator=(Slot&&) = delete;
  ~Slot() {
    if (s_ == nullptr) return;
    release_address();
    --s_->connections;
    s_->open_connections.set(static_cast<double>(s_->connections));
    s_->update_accepting();
  }
  // Counts the connection against another address (a proxied client's); false, and unchanged,
  // when that address holds its limit already.
  bool rebind(const std::string& address) {
    if (address == address_) return true;
    if (s_->per_address[address] >= s_->o.max_connections_per_address) {
      if (s_->per_address[address] == 0) s_->per_address.erase(address);
      return false;
    }
    release_address();
    address_ = address;
    ++s_->per_address[address_];
    return true;
  }

 private:
  void release_address() {
    if (address_.empty()) return;
    const auto it = s_->per_address.find(address_);
    if (it != s_->per_address.end() && --it->second == 0) s_->per_address.erase(it);
  }
  Server::Impl* s_;
  std::string address_;
};

using Message = std::shared_ptr<const std::string>;

// A bounded queue of whole messages for one client: a client that falls further behind than the
// limit is dropped (closed), never buffered without end.
class Outbox {
 public:
  explicit Outbox(std::size_t limit) : limit_(limit) {}
  // false: over the limit (the caller drops the client).
  bool push(Message m) {
    if (bytes_ + m->size() > limit_) return false;
    bytes_ += m->size();
    queue_.push_back(std::move(m));
    return true;
  }
  [[nodiscard]] bool empty() const { return queue_.empty(); }
  [[nodiscard]] std::size_t bytes() const { return bytes_; }
  // Drops what is queued but the first message when it is on its way.
  void clear(bool keep_front) {
    while (queue_.size() > (keep_front ? 1u : 0u)) {
      bytes_ -= queue_.back()->size();
      queue_.pop_back();
    }
  }
  void force(Message m) {  // past the limit: a last message
    bytes_ += m->size();
    queue_.push_back(std::move(m));
  }
  [[nodiscard]] const Message& front() const { return queue_.front(); }
  void pop() {
    bytes_ -= queue_.front()->size();
    queue_.pop_front();
  }

 private:
  std::size_t limit_;
  std::size_t bytes_ = 0;
  std::deque<Message> queue_;
};

// What a streaming session (SSE, WebSocket) sends: queued in order, one write at a time. A
// client further behind than GATEWAY_CLIENT_BUFFER, or whose replay outran what the hub keeps,
// is dropped: what is queued goes, the reason is sent (farewell), then the connection closes
// (finish). One whose write does not finish within GATEWAY_WRITE_TIMEOUT stopped reading: it is
// closed at once. Session provides write(text, handler), close() (which sets closed_),
// refill() (more of a replay or a snapshot, called while the queue has room), farewell(why) (a
// last message, or none) and finish().
template <class Derived>
class Streaming {
 public:
  Streaming(Server::Impl& s, const char* what)
      : s_(s), out_(s.o.client_buffer_bytes), what_(what), write_deadline_(s.ioc) {}

 protected:
  void send(Message m) {
    if (closed_ || closing_) return;
    if (!out_.push(std::move(m)))
      return drop("dropped: more than GATEWAY_CLIENT_BUFFER bytes behind the live stream", s_.dropped);
    if (!writing_ && !refilling_) write_next();
  }
  void drop(const std::string& why, Counter& counter) {
    if (closed_ || closing_) return;
    counter.inc();
    log_warn(std::string("gateway: a ") + what_ + " client is dropped",
             {{"why", why}, {"buffer_bytes", s_.o.client_buffer_bytes}});
    closing_ = true;
    out_.clear(writing_);
    if (auto last = self().farewell(why)) out_.force(std::move(last));
    if (!writing_ && !refilling_) write_next();
  }
  // Part of a replay or snapshot (refill), queued while has_room(): never over the limit by
  // more than one step, so never a reason to drop the client.
  void fill(Message m) {
    if (!closed_ && !closing_) out_.force(std::move(m));
  }
  // Room for more of a replay: the queue is under half its limit.
  [[nodiscard]] bool has_room() const { return !closing_ && out_.bytes() < s_.o.client_buffer_bytes / 2; }
  void stop_deadline() { write_deadline_.cancel(); }
  void kick() {
    if (!writing_ && !refilling_) write_next();
  }

  Server::Impl& s_;
  Outbox out_;
  bool closed_ = false;
  bool closing_ = false;  // dropped: what is queued is the last

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  void write_next() {
    if (!closed_ && has_room()) {  // what refill() sends is queued: the write starts below
      refilling_ = true;
      self().refill();
      refilling_ = false;
    }
    if (out_.empty() || closed_) {
      writing_ = false;
      write_deadline_.cancel();
      if (closing_ && !closed_) self().finish();
      return;
    }
    writing_ = true;
    write_deadline_.expires_after(s_.o.write_timeout);
    write_deadline_.async_wait([session = self().shared_from_this()](beast::error_code ec) {
      if (ec || session->closed_) return;
      session->s_.stalled.inc();
      log_warn(std::string("gateway: a ") + session->what_ + " client stopped reading; closed",
               {{"write_timeout_ms", session->s_.o.write_timeout.count()}});
      session->close();
    });
    self().write(*out_.front(), [session = self().shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return session->close();
      session->out_.pop();
      session->write_next();
    });
  }

  const char* what_;
  bool writing_ = false;
  bool refilling_ = false;
  asio::steady_timer write_deadline_;
};

// The native filter from a query (symbols=, intervals=, types=); an error names the parameter.
std::optional<std::string> filter_from(const Request& r, Filter& f);

// The sessions a connection goes through: HTTP from accept; SSE or a WebSocket from a request.
void start_http(Server::Impl& s, tcp::socket socket, Slot slot, std::string peer);
void start_sse(Server::Impl& s, beast::tcp_stream stream, Slot slot, Filter filter, const std::string& last_event_id,
               bool cors);
struct WebSocketStart {
  Session session = Session::native_ws;  // binance_ws, binance_stream or native_ws
  std::vector<std::string> names;        // Binance streams named in the URL (checked)
  Filter filter;                         // /v1/ws's from the query
};
void start_websocket(Server::Impl& s, beast::tcp_stream stream, Slot slot, WebSocketStart what,
                     http::request<http::string_body> upgrade);

}  // namespace cryptoflow::gateway
