#pragma once
// A map kept as one sorted vector: for a series' open windows and an average's panes, a few
// entries each, where std::map allocated a node per entry (a pane per trade, with 1,000 symbols
// each trading every few seconds). Keys mostly arrive in increasing order and leave from the
// front; the vector keeps its capacity, so steady state allocates nothing. Iterators and
// references are invalidated by every insertion and erasure (unlike std::map's).
#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

namespace cryptoflow::processor {

template <class K, class V>
class FlatMap {
 public:
  using value_type = std::pair<K, V>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  [[nodiscard]] iterator begin() { return items_.begin(); }
  [[nodiscard]] iterator end() { return items_.end(); }
  [[nodiscard]] const_iterator begin() const { return items_.begin(); }
  [[nodiscard]] const_iterator end() const { return items_.end(); }
  [[nodiscard]] bool empty() const { return items_.empty(); }
  [[nodiscard]] std::size_t size() const { return items_.size(); }

  // The first entry whose key is not less than key.
  iterator lower_bound(const K& key) {
    if (items_.empty() || items_.back().first < key) return items_.end();  // the usual append
    return std::lower_bound(items_.begin(), items_.end(), key,
                            [](const value_type& e, const K& k) { return e.first < k; });
  }
  // The entry with this key, made with V{} if there is none; true if it was made.
  std::pair<iterator, bool> try_emplace(const K& key) {
    auto it = lower_bound(key);
    if (it != items_.end() && it->first == key) return {it, false};
    return {items_.emplace(it, key, V{}), true};
  }
  V& operator[](const K& key) { return try_emplace(key).first->second; }
  iterator erase(const_iterator first, const_iterator last) { return items_.erase(first, last); }
  iterator erase(const_iterator it) { return items_.erase(it); }

 private:
  std::vector<value_type> items_;
};

}  // namespace cryptoflow::processor
