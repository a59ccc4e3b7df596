#include "cryptoflow/runtime/readiness.hpp"

#include <cassert>

namespace cryptoflow {

Readiness::Registration::Registration(Registration&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), it_(other.it_) {}

Readiness::Registration& Readiness::Registration::operator=(Registration&& other) noexcept {
  if (this != &other) {
    reset();
    owner_ = std::exchange(other.owner_, nullptr);
    it_ = other.it_;
  }
  return *this;
}

Readiness::Registration::~Registration() {
  reset();
}

void Readiness::Registration::reset() {
  if (!owner_) return;
  const std::lock_guard lock(owner_->mu_);  // waits for a check being called
  owner_->checks_.erase(it_);
  owner_ = nullptr;
}

Readiness::~Readiness() {
  assert(checks_.empty() && "a readiness registration outlives its Readiness");
}

Readiness::Registration Readiness::add(std::string name, std::function<bool()> check) {
  const std::lock_guard lock(mu_);
  checks_.push_back({std::move(name), std::move(check)});
  return {this, std::prev(checks_.end())};
}

bool Readiness::ready() const {
  const std::lock_guard lock(mu_);
  if (checks_.empty()) return false;
  for (const auto& c : checks_)
    if (!c.check()) return false;
  return true;
}

std::vector<std::pair<std::string, bool>> Readiness::report() const {
  const std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, bool>> out;
  for (const auto& c : checks_) out.emplace_back(c.name, c.check());
  return out;
}

}  // namespace cryptoflow
