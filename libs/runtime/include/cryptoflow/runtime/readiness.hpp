#pragma once
// What /readyz answers: the conjunction of checks that a service registers for as long as the
// objects they read exist. A Registration is RAII: destroying it removes the check and waits
// for a call of it in progress, so the admin thread never reads an object that is gone. Declare
// the registration after what its check reads and the order is right by construction.
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cryptoflow {

class Readiness {
 public:
  class Registration {
   public:
    Registration() = default;
    Registration(Registration&& other) noexcept;
    Registration& operator=(Registration&& other) noexcept;
    ~Registration();
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

   private:
    friend class Readiness;
    struct Check;
    Registration(Readiness* owner, std::list<Check>::iterator it) : owner_(owner), it_(it) {}
    void reset();
    Readiness* owner_ = nullptr;
    std::list<Check>::iterator it_{};
  };

  Readiness() = default;
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;
  ~Readiness();

  // check must be cheap and thread-safe: it runs on the admin server's thread.
  [[nodiscard]] Registration add(std::string name, std::function<bool()> check);
  // True when at least one check is registered and every check is true.
  [[nodiscard]] bool ready() const;
  // Each check's name and answer, in registration order.
  [[nodiscard]] std::vector<std::pair<std::string, bool>> report() const;

 private:
  mutable std::mutex mu_;
  std::list<Registration::Check> checks_;
};

struct Readiness::Registration::Check {
  std::string name;
  std::function<bool()> check;
};

}  // namespace cryptoflow
