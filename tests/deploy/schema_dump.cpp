// Prints, as JSON, what the sinks actually write: InfluxDB measurements with their tags and
// fields, and Elasticsearch indices with their document fields — found by encoding real
// messages with the sinks' own code (and each sample document's _id). validate_deploy.py checks
// dashboards against it, check_contract.py docs/contract.md.
#include <rapidjson/document.h>

#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "elasticsearch-sink/src/documents.hpp"
#include "influxdb-sink/src/line_protocol.hpp"

using namespace cryptoflow;

namespace {

void line_schema(const std::string& line,
                 std::map<std::string, std::pair<std::set<std::string>, std::set<std::string>>>& out) {
  // measurement,tag=v,... field=v,... time   (sample values contain no escaped characters)
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  std::stringstream head(line.substr(0, sp1));
  std::string part, measurement;
  std::getline(head, measurement, ',');
  auto& [tags, fields] = out[measurement];
  while (std::getline(head, part, ',')) tags.insert(part.substr(0, part.find('=')));
  std::stringstream body(line.substr(sp1 + 1, sp2 - sp1 - 1));
  while (std::getline(body, part, ',')) fields.insert(part.substr(0, part.find('=')));
}

std::string list(const std::set<std::string>& s) {
  std::string out = "[";
  for (const auto& x : s) out += (out.size() > 1 ? "," : "") + ("\"" + x + "\"");
  return out + "]";
}

}  // namespace

int main() {
  const auto d = *Decimal::parse("1.5");
  Candle c{"binance", "BTCUSDT", "1m", 0, 60000, d, d, d, d, d, d, d, d, d, 3, true};
  Indicator m{"BTCUSDT", "sma", "30s", 30000, d, 3};
  Ticker t{"coingecko", "bitcoin", "btc", "Bitcoin", "usd", d, d, d, d, 1000, 2000, d, d};

  std::map<std::string, std::pair<std::set<std::string>, std::set<std::string>>> influx;
  std::string lines;
  influx::append_line(lines, c);
  influx::append_line(lines, m);
  influx::append_line(lines, t);
  influx::append_line(lines, influx::TopOfBook{"binance", "BTCUSDT", 7, 1000, PriceLevel{d, d}, PriceLevel{d, d}});
  std::stringstream ls(lines);
  for (std::string line; std::getline(ls, line);) line_schema(line, influx);

  std::map<std::string, std::set<std::string>> es;
  std::map<std::string, std::string> ids;
  std::string ndjson;
  elastic::append_bulk_index(ndjson, "crypto-candles", c);
  elastic::append_bulk_index(ndjson, "crypto-indicators", m);
  elastic::append_bulk_index(ndjson, "crypto-tickers", t);
  std::stringstream ns(ndjson);
  for (std::string action, doc; std::getline(ns, action) && std::getline(ns, doc);) {
    rapidjson::Document a, b;
    a.Parse(action.c_str());
    b.Parse(doc.c_str());
    auto& fields = es[a["index"]["_index"].GetString()];
    ids[a["index"]["_index"].GetString()] = a["index"]["_id"].GetString();
    for (const auto& kv : b.GetObject()) fields.insert(kv.name.GetString());
  }

  std::cout << "{\"influxdb\":{";
  bool first = true;
  for (const auto& [name, tf] : influx) {
    std::cout << (first ? "" : ",") << "\"" << name << "\":{\"tags\":" << list(tf.first)
              << ",\"fields\":" << list(tf.second) << "}";
    first = false;
  }
  std::cout << "},\"elasticsearch\":{";
  first = true;
  for (const auto& [index, fields] : es) {
    std::cout << (first ? "" : ",") << "\"" << index << "\":" << list(fields);
    first = false;
  }
  std::cout << "},\"elasticsearch_ids\":{";
  first = true;
  for (const auto& [index, id] : ids) {
    std::cout << (first ? "" : ",") << "\"" << index << "\":\"" << id << "\"";
    first = false;
  }
  std::cout << "}}\n";
  return 0;
}
