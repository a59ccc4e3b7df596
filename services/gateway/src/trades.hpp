#pragma once
// The recent trades the gateway serves (/api/v3/trades, aggTrades, historicalTrades, avgPrice and
// the @trade / @aggTrade streams), from crypto.trades. Written by the feed thread, read by the HTTP
// thread (one mutex; reads copy out).
//
// Per symbol: the last `per_symbol` records, ascending by id, and the price x quantity of the last
// 300 whole seconds in per-second sums (avgPrice). A symbol is fed either Binance's trades (@trade:
// one record per trade) or its aggregate trades (@aggTrade: first and last trade ids); the kind
// of the first record decides, and records of the other kind are refused (counted).
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cryptoflow/messages/messages.hpp"

namespace cryptoflow::gateway {

struct TradeLimits {
  std::size_t per_symbol = 1000;  // Binance's largest page
  std::size_t max_symbols = 20000;
};

// The memory bound's arithmetic (service.cpp fit_memory): a held trade (104 bytes: two 32-byte
// decimals) with the deque's overhead, and a symbol's per-second sums (300 x 72 bytes) and map
// node; tests/unit/gateway/trades_test.cpp measures 148 KB for a symbol of 1,000 trades under them.
inline constexpr std::size_t kBytesPerTrade = 120;
inline constexpr std::size_t kBytesPerTradeSymbol = 32'768;

struct HeldTrade {
  std::int64_t id = 0;                     // trade id, or aggregate trade id
  std::int64_t first_id = 0, last_id = 0;  // the trades an aggregate holds (a trade: its own id)
  std::int64_t time = 0;                   // trade time, ms
  Decimal price, quantity;
  bool buyer_is_maker = false;
  friend bool operator==(const HeldTrade&, const HeldTrade&) = default;
};

// A crypto.trades record as held.
HeldTrade held(const Trade& t);
// Binance's aggregation: t joins the aggregate run when it is the next trade at the same time,
// price and side (true: run now holds it).
bool extend_run(HeldTrade& run, const HeldTrade& t);

// The @aggTrade stream of symbols fed single trades: Binance's aggregates formed as the trades
// arrive. A run goes out when the next trade does not continue it, or once a whole tick (the
// server's second) has passed without a trade of its symbol, so that a run is not split in two
// where aggTrades (formed from the held trades) has one: the trades of one run arrive together.
class RunFormer {
 public:
  // t joins its symbol's run or starts the next; the run it ends, if any, is returned.
  std::optional<HeldTrade> add(const std::string& symbol, const HeldTrade& t);
  // The runs that had no trade since the last tick, gone out now; the others wait a tick.
  std::vector<std::pair<std::string, HeldTrade>> tick();
  void erase(const std::string& symbol) { forming_.erase(symbol); }

 private:
  struct Forming {
    HeldTrade run;
    bool idle = false;  // a tick passed since its last trade
  };
  std::map<std::string, Forming> forming_;
};

enum class TradeApplied { added, repeated, refused };

struct AggQuery {
  std::string symbol;
  std::optional<std::int64_t> from_id, start, end;  // times inclusive, ms
  std::size_t limit = 500;
};

struct AveragePrice {
  Decimal price;
  std::int64_t close_time = 0;  // the last trade's time
};

class TradeStore {
 public:
  explicit TradeStore(TradeLimits limits = {}) : limits_(limits) {}

  // A record older than or equal to the newest held for its symbol is a repeat (a replay).
  TradeApplied apply(const Trade& t);

  [[nodiscard]] bool has_symbol(const std::string& symbol) const;
  // Whether the symbol is fed aggregate trades (then no single trades are known).
  [[nodiscard]] bool aggregated(const std::string& symbol) const;
  // The last `limit` trades, or the first `limit` from id from_id on (ascending).
  [[nodiscard]] std::vector<HeldTrade> trades(const std::string& symbol, std::optional<std::int64_t> from_id,
                                              std::size_t limit) const;
  // Aggregate trades as Binance forms them: the held aggregates, or, for a symbol fed single
  // trades, runs of consecutive trades with the same time, price and side (the aggregate's id is
  // its first trade's id). With from_id: from that id; with start/end: within them; neither: the
  // last `limit`.
  [[nodiscard]] std::vector<HeldTrade> aggregates(const AggQuery& q) const;
  // The quantity-weighted average price of the trades in the 300 whole seconds up to the last
  // trade's second; nothing when no trade is held.
  [[nodiscard]] std::optional<AveragePrice> average(const std::string& symbol, int scale) const;
  [[nodiscard]] std::optional<HeldTrade> last(const std::string& symbol) const;
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] std::size_t symbols() const;

 private:
  struct Second {
    std::int64_t second = 0;
    Decimal quantity, quote;
  };
  struct Symbol {
    bool aggregated = false;
    std::deque<HeldTrade> trades;
    std::deque<Second> seconds;
  };
  [[nodiscard]] std::vector<HeldTrade> aggregate_runs(const Symbol& s) const;
  TradeLimits limits_;
  mutable std::mutex mu_;
  std::map<std::string, Symbol> symbols_;
  std::size_t count_ = 0;
};

}  // namespace cryptoflow::gateway
