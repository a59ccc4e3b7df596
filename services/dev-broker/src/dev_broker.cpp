#include "dev_broker.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

#include "cryptoflow/runtime/log.hpp"

namespace cryptoflow {
namespace {

// The mock cluster's sockets keep Nagle's algorithm on. A response written while the previous
// one is unacknowledged then waits for the client's delayed ACK (40 ms on Linux): one produce
// of fifty partitions took 45 ms instead of 2. Linux accepted sockets inherit TCP_NODELAY from
// their listening socket, so setting it on the mock's listeners (found among this process's
// descriptors by their port) fixes every connection. Returns how many listeners were changed.
int disable_nagle_on_listeners(const std::set<int>& ports) {
  int changed = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return 0;
  while (const dirent* e = ::readdir(dir)) {  // NOLINT(concurrency-mt-unsafe): this function's own stream
    const int fd = std::atoi(e->d_name);
    if (fd <= 2 || fd == ::dirfd(dir)) continue;
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || addr.ss_family != AF_INET) continue;
    if (!ports.count(ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port))) continue;
    int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) ++changed;
  }
  ::closedir(dir);
  return changed;
}

}  // namespace

DevBrokerOptions parse_dev_broker_args(const std::vector<std::string>& args) {
  DevBrokerOptions o;
  auto number = [&](std::size_t& i, const std::string& flag, int min, int max) {
    if (i + 1 >= args.size()) throw ConfigError(flag + " needs a value");
    const auto& text = args[++i];
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size() || v < min || v > max)
      throw ConfigError(flag + " " + text + ": expected an integer in [" + std::to_string(min) + ", " +
                        std::to_string(max) + "]");
    return v;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--brokers")
      o.brokers = number(i, "--brokers", 1, 16);
    else if (args[i] == "--port")
      o.first_port = number(i, "--port", 1, 65535 - 16);
    else if (args[i] == "--partitions")
      o.partitions = number(i, "--partitions", 1, 1000);
    else
      throw ConfigError("unknown argument " + args[i] + " (see --help)");
  }
  return o;
}

std::vector<std::string> contract_topics(const Config& config) {
  return {config.str("TRADES_TOPIC"),     config.str("TICKERS_TOPIC"),     config.str("CANDLES_TOPIC"),
          config.str("INDICATORS_TOPIC"), config.str("LATE_TRADES_TOPIC"), config.str("DEAD_LETTER_TOPIC"),
          config.str("BOOKS_TOPIC"),      config.str("STATE_TOPIC")};
}

DevBroker::DevBroker(const DevBrokerOptions& options, const std::vector<std::string>& topics)
    : cluster_(options.brokers) {
  for (const auto& t : topics) cluster_.create_topic(t, options.partitions, std::min(options.brokers, 3));
  bootstrap_ = cluster_.bootstrap_servers();
  std::set<int> ports;
  for (const auto& b : split_list(bootstrap_)) ports.insert(std::stoi(b.substr(b.rfind(':') + 1)));
  if (disable_nagle_on_listeners(ports) != static_cast<int>(ports.size()))
    log_warn("could not turn off Nagle's algorithm on every mock broker; responses may wait 40 ms",
             {{"brokers", bootstrap_}});
  if (options.first_port > 0) {
    std::string fixed;
    const auto targets = split_list(bootstrap_);
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const auto port = static_cast<std::uint16_t>(options.first_port + static_cast<int>(i));
      const auto target = static_cast<std::uint16_t>(std::stoi(targets[i].substr(targets[i].rfind(':') + 1)));
      forwarders_.push_back(std::make_unique<TcpForwarder>(port, target));
      if (!fixed.empty()) fixed += ',';
      fixed += "127.0.0.1:";
      fixed += std::to_string(port);
    }
    log_info("fixed ports forward to the mock brokers", {{"fixed", fixed}, {"brokers", bootstrap_}});
    bootstrap_ = fixed;
  }
}

DevBroker::~DevBroker() {
  forwarders_.clear();  // before the cluster they forward to
}

}  // namespace cryptoflow
