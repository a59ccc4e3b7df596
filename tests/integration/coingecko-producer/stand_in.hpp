#pragma once
// coingecko-producer's tests against a stand-in CoinGecko (a real local HTTP server serving the
// recorded responses): a simulated clock, the logs captured, the recorded answer, the options.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "coingecko-producer/src/budget.hpp"
#include "coingecko-producer/src/client.hpp"
#include "test_support.hpp"

namespace cryptoflow::coingecko::testing {

using namespace std::chrono_literals;

// Simulated time: sleeping advances it at once; it stops at `end_ms`.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t start, std::int64_t end = INT64_MAX) : now_(start), end_(end) {}
  std::int64_t now_ms() override { return now_; }
  bool sleep_until(std::int64_t until) override {
    if (until >= end_) return false;
    now_ = std::max(now_, until);
    return true;
  }
  std::int64_t now_;
  std::int64_t end_;
};

// Captures what the process writes to stderr (the logs) while alive.
class StderrCapture {
 public:
  StderrCapture() : saved_(::dup(2)) {
    path_ = (dir_.path() / "stderr").string();
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    return test::read_file(path_);
  }

 private:
  void restore() {
    if (saved_ >= 0) {
      ::dup2(saved_, 2);
      ::close(saved_);
      saved_ = -1;
    }
  }
  test::TempDir dir_;
  std::string path_;
  int saved_;
};

inline const std::string& markets() {
  static const std::string body = test::read_file(test::fixture("coingecko/GetMarketsAsync.txt"));
  return body;
}

inline ClientOptions options_for(const test::HttpStandIn& s, const std::string& plan = "demo") {
  ClientOptions o;
  o.base_url = s.url() + "/api/v3";
  o.plan = plan;
  o.api_key = "CG-s3cr3tKEY";
  o.total_timeout = 500ms;
  o.connect_timeout = 500ms;
  return o;
}

}  // namespace cryptoflow::coingecko::testing
