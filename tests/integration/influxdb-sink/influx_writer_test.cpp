// The InfluxDB writer against a real influxd (v1 API) and against a stand-in for InfluxDB 2's
// write API (no InfluxDB 2 can be installed here).
#include "influxdb-sink/src/influx_writer.hpp"

#include <catch2/catch.hpp>

#include "influxdb-sink/src/line_protocol.hpp"
#include "test_support.hpp"

using namespace cryptoflow;
using namespace cryptoflow::influx;

namespace {
std::string count_of(const test::InfluxServer& s, const std::string& q) {
  const auto body = s.query("crypto", q);
  const auto at = body.find("[[");
  return at == std::string::npos ? "0" : body.substr(at, body.find("]]", at) - at + 2);
}
}  // namespace

TEST_CASE("v1: points are written - and writing the same point again overwrites it") {
  test::InfluxServer influx;
  InfluxWriter w({influx.url(), "v1", "", "", "", "crypto", "", ""});
  CHECK(w.ensure_database().empty());
  const std::string lines =
      "candle,interval=1m,source=binance,symbol=XRPETH open=0.00141342,trades=3i,final=true 1570752000000\n"
      "candle,interval=1m,source=binance,symbol=XRPETH open=0.00141597,trades=1i,final=true 1570752060000\n";
  REQUIRE(w.write(lines).status == WriteStatus::ok);
  REQUIRE(w.write(lines).status == WriteStatus::ok);
  CHECK(count_of(influx, "SELECT count(open) FROM candle") == "[[0,2]]");
  CHECK(influx.query("crypto", "SELECT open FROM candle ORDER BY time LIMIT 1").find("[1570752000000,0.00141342]") !=
        std::string::npos);
}

TEST_CASE("v1: a line InfluxDB cannot parse is 'rejected' - a dead server is 'retry'") {
  test::InfluxServer influx;
  InfluxWriter w({influx.url(), "v1", "", "", "", "crypto", "", ""});
  auto r = w.write("candle,symbol=X open=notanumber 1\n");
  CHECK(r.status == WriteStatus::rejected);
  CHECK(r.http_status == 400);
  CHECK_FALSE(r.message.empty());
  influx.stop();
  r = w.write("candle,symbol=X open=1 1\n");
  CHECK(r.status == WriteStatus::retry);
  CHECK(r.http_status == 0);
}

TEST_CASE("v2: path - headers - query parameters and body as InfluxDB 2's API reference defines them") {
  test::HttpStandIn server([](const test::HttpRequest&) { return test::HttpReply{204, "", {}}; });
  InfluxWriter w({server.url(), "v2", "s3cr3t-token", "my org", "crypto/bucket", "", "", ""});
  REQUIRE(w.write("candle,symbol=X open=1 1\n").status == WriteStatus::ok);
  const auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].method == "POST");
  CHECK(reqs[0].target == "/api/v2/write?org=my%20org&bucket=crypto%2Fbucket&precision=ms");
  CHECK(reqs[0].headers.at("authorization") == "Token s3cr3t-token");
  CHECK(reqs[0].headers.at("content-type") == "text/plain; charset=utf-8");
  CHECK(reqs[0].headers.at("content-encoding") == "gzip");
  CHECK(gunzip(reqs[0].body) == "candle,symbol=X open=1 1\n");
  CHECK(w.write_url().find("s3cr3t") == std::string::npos);
}

TEST_CASE("INFLUX_GZIP=false: the body goes as it is, without Content-Encoding") {
  test::HttpStandIn server([](const test::HttpRequest&) { return test::HttpReply{204, "", {}}; });
  InfluxOptions o{server.url(), "v1", "", "", "", "crypto", "", ""};
  o.gzip = false;
  InfluxWriter w(o);
  REQUIRE(w.write("candle,symbol=X open=1 1\n").status == WriteStatus::ok);
  const auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].headers.count("content-encoding") == 0);
  CHECK(reqs[0].body == "candle,symbol=X open=1 1\n");
}

TEST_CASE("v2: 429 with Retry-After and 503 are retried - 400 is rejected") {
  int calls = 0;
  test::HttpStandIn server([&](const test::HttpRequest&) {
    ++calls;
    if (calls == 1) return test::HttpReply{429, "{\"code\":\"too many requests\"}", {{"Retry-After", "7"}}};
    if (calls == 2) return test::HttpReply{503, "unavailable", {}};
    return test::HttpReply{400, "{\"code\":\"invalid\",\"message\":\"unable to parse\"}", {}};
  });
  InfluxWriter w({server.url(), "v2", "t", "o", "b", "", "", ""});
  auto r = w.write("x v=1 1\n");
  CHECK(r.status == WriteStatus::retry);
  REQUIRE(r.retry_after.has_value());
  CHECK(r.retry_after->count() == 7000);
  CHECK(w.write("x v=1 1\n").status == WriteStatus::retry);
  r = w.write("x v=1 1\n");
  CHECK(r.status == WriteStatus::rejected);
  CHECK(r.message.find("unable to parse") != std::string::npos);
}

TEST_CASE("A Retry-After of days is cut to RETRY_AFTER_MAX") {
  test::HttpStandIn server([&](const test::HttpRequest&) {
    return test::HttpReply{503, "", {{"Retry-After", "259200"}}};
  });
  HttpOptions http;
  http.retry_after_max = std::chrono::seconds(5);
  InfluxWriter w({server.url(), "v2", "t", "o", "b", "", "", ""}, http);
  const auto r = w.write("x v=1 1\n");
  CHECK(r.status == WriteStatus::retry);
  REQUIRE(r.retry_after.has_value());
  CHECK(r.retry_after->count() == 5000);
}

TEST_CASE("v1 basic auth goes in a header - never in the URL") {
  test::HttpStandIn server([](const test::HttpRequest&) { return test::HttpReply{204, "", {}}; });
  InfluxWriter w({server.url(), "v1", "", "", "", "crypto", "admin", "pw"});
  REQUIRE(w.write("x v=1 1\n").status == WriteStatus::ok);
  const auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].target == "/write?db=crypto&precision=ms");
  CHECK(reqs[0].headers.at("authorization") == "Basic YWRtaW46cHc=");
}

TEST_CASE("v1: the book measurement - InfluxDB takes the points the sampler makes, update_id an integer") {
  test::InfluxServer influx;
  InfluxWriter w({influx.url(), "v1", "", "", "", "crypto", "", ""});
  CHECK(w.ensure_database().empty());
  std::string lines;
  append_line(lines, TopOfBook{"binance", "NKNUSDT", 499869752, 1'633'998'512'000,
                               PriceLevel{*Decimal::parse("0.35210000"), *Decimal::parse("672.00000000")},
                               PriceLevel{*Decimal::parse("0.35300000"), *Decimal::parse("10")}});
  append_line(lines, TopOfBook{"binance", "NKNUSDT", 499869760, 1'633'998'513'000,
                               PriceLevel{*Decimal::parse("0.35220000"), *Decimal::parse("1")}, std::nullopt});
  REQUIRE(w.write(lines).status == WriteStatus::ok);
  CHECK(count_of(influx, "SELECT count(bid) FROM book WHERE symbol = 'NKNUSDT'") == "[[0,2]]");
  CHECK(influx.query("crypto", "SELECT bid, ask, spread, update_id FROM book ORDER BY time LIMIT 1")
            .find("[1633998512000,0.3521,0.353,0.0009,499869752]") != std::string::npos);
}
