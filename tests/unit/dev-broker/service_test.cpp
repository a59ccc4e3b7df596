// dev-broker's flags and topics.
#include "dev-broker/src/service.hpp"

#include <catch2/catch.hpp>

using namespace cryptoflow;

namespace {

DevBrokerService parse(std::vector<std::string> args, Config::Env env = {}) {
  return parse_dev_broker(Config(dev_broker_info().vars, std::move(env), std::move(args)));
}

}  // namespace

TEST_CASE("dev-broker: flags - and every contract topic as the *_TOPIC variables name it") {
  const auto o = parse({"--brokers", "3", "--port", "19092", "--partitions", "12"}, {{"CANDLES_TOPIC", "my.candles"}});
  CHECK(o.broker.brokers == 3);
  CHECK(o.broker.first_port == 19092);
  CHECK(o.broker.partitions == 12);
  CHECK(o.topics == std::vector<std::string>{"crypto.trades", "crypto.tickers", "my.candles", "crypto.indicators",
                                             "crypto.late-trades", "crypto.dead-letter", "crypto.books",
                                             "crypto.processor-state"});
  const auto d = parse({});
  CHECK(d.broker.brokers == 1);
  CHECK(d.broker.first_port == 0);
  CHECK(d.broker.partitions == 6);
}

TEST_CASE("dev-broker: bad flags are configuration errors") {
  CHECK_THROWS_WITH(parse({"--brokers", "0"}), "--brokers 0: expected an integer in [1, 16]");
  CHECK_THROWS_WITH(parse({"--partitions"}), "--partitions needs a value");
  CHECK_THROWS_WITH(parse({"--colour", "red"}), "unknown argument --colour (see --help)");
}
