#include "books.hpp"

namespace cryptoflow::gateway {

BookStore::Change BookStore::apply(const BookRecord& r) {
  std::lock_guard lock(mu_);
  auto it = books_.find(r.symbol);
  if (it == books_.end()) {
    if (books_.size() >= max_books_) return Change::refused;
    it = books_.try_emplace(r.symbol).first;
  }
  const bool was_good = it->second.good();
  switch (it->second.apply(r)) {
    case BookReader::Result::snapshot: return Change::good;
    case BookReader::Result::applied: return Change::update;
    case BookReader::Result::resync:
    case BookReader::Result::broken: return was_good ? Change::not_good : Change::none;
    case BookReader::Result::ignored: return Change::none;
  }
  return Change::none;
}

std::optional<BookView> BookStore::view(const std::string& symbol, std::size_t limit) const {
  std::lock_guard lock(mu_);
  const auto it = books_.find(symbol);
  if (it == books_.end() || !it->second.good()) return std::nullopt;
  const auto& book = it->second.book();
  return BookView{it->second.id(), book.top_bids(limit), book.top_asks(limit)};
}

bool BookStore::holds(const std::string& symbol) const {
  std::lock_guard lock(mu_);
  return books_.contains(symbol);
}

std::vector<std::string> BookStore::symbols() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [symbol, reader] : books_)
    if (reader.good()) out.push_back(symbol);
  return out;
}

std::size_t BookStore::size() const {
  std::lock_guard lock(mu_);
  return books_.size();
}

}  // namespace cryptoflow::gateway
