#include "cryptoflow/runtime/readiness.hpp"

#include <catch2/catch.hpp>
#include <thread>

using namespace cryptoflow;
using namespace std::chrono_literals;

TEST_CASE("Ready when every registered check passes - not before anything registers - not after it goes") {
  Readiness r;
  CHECK_FALSE(r.ready());  // nothing registered: a service that has not started is not ready
  std::atomic<bool> a{true}, b{false};
  {
    const auto ra = r.add("a", [&] { return a.load(); });
    CHECK(r.ready());
    const auto rb = r.add("b", [&] { return b.load(); });
    CHECK_FALSE(r.ready());
    b = true;
    CHECK(r.ready());
    CHECK(r.report() == std::vector<std::pair<std::string, bool>>{{"a", true}, {"b", true}});
  }
  CHECK_FALSE(r.ready());
  CHECK(r.report().empty());
}

TEST_CASE("A registration that goes waits for a check in progress: the object it reads outlives every call") {
  Readiness r;
  std::atomic<bool> in_check{false};
  std::atomic<bool> destroyed{false};
  std::atomic<int> read_after_destruction{0};
  auto object = std::make_unique<int>(1);
  auto reg = std::make_unique<Readiness::Registration>(r.add("slow", [&] {
    in_check = true;
    std::this_thread::sleep_for(100ms);
    if (destroyed) ++read_after_destruction;
    return *object == 1;
  }));
  std::thread admin([&] { (void)r.ready(); });
  while (!in_check) std::this_thread::yield();
  reg.reset();  // blocks until the check returns
  destroyed = true;
  object.reset();
  admin.join();
  CHECK(read_after_destruction == 0);
  CHECK_FALSE(r.ready());
}

TEST_CASE("Registrations move") {
  Readiness r;
  Readiness::Registration outer;
  {
    auto inner = r.add("x", [] { return true; });
    outer = std::move(inner);
  }
  CHECK(r.ready());
  outer = Readiness::Registration{};
  CHECK_FALSE(r.ready());
}
