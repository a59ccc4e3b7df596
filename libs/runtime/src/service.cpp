#include "cryptoflow/runtime/service.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "cryptoflow/runtime/log.hpp"

namespace cryptoflow {
namespace {
volatile std::sig_atomic_t g_shutdown = 0;
extern "C" void on_signal(int) {
  g_shutdown = 1;
}
}  // namespace

void ShutdownSignal::install() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}
bool ShutdownSignal::requested() {
  return g_shutdown != 0;
}
void ShutdownSignal::request() {
  g_shutdown = 1;
}

AdminServer::AdminServer(int port, MetricsRegistry& metrics, std::function<bool()> ready,
                         const std::string& bind_address)
    : metrics_(metrics), ready_(std::move(ready)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);  // accept4 until EAGAIN
  if (listen_fd_ < 0) throw std::runtime_error(std::string("admin server: socket: ") + errno_text(errno));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, bind_address.c_str(), &addr.sin_addr) != 1)
    throw std::runtime_error("admin server: bad bind address " + bind_address);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0) {
    const std::string err = errno_text(errno);
    ::close(listen_fd_);
    throw std::runtime_error("admin server: cannot listen on port " + std::to_string(port) + ": " + err);
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
  log_info("admin server listening", {{"port", port_}});
}

AdminServer::~AdminServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
}

namespace {

// A connection of the admin server: the request read so far, then the answer being written.
struct AdminConnection {
  int fd = -1;
  std::string in, out;
  std::size_t sent = 0;
  std::chrono::steady_clock::time_point deadline;
};

constexpr std::size_t kMaxAdminConnections = 32;
constexpr auto kAdminRequestTime = std::chrono::seconds(2);  // to send a request and read the answer
constexpr std::size_t kMaxAdminRequest = 8192;

}  // namespace

// One thread, non-blocking sockets: a client that sends slowly (or nothing) holds only its own
// connection, for at most kAdminRequestTime, so /healthz answers at once for everyone else.
void AdminServer::serve() {
  std::vector<AdminConnection> conns;
  std::vector<pollfd> fds;
  const auto close_at = [&](std::size_t i) {
    ::close(conns[i].fd);
    conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(i));
  };
  while (!stop_) {
    fds.assign(1, pollfd{listen_fd_, POLLIN, 0});
    for (const auto& c : conns) fds.push_back(pollfd{c.fd, static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
    if (::poll(fds.data(), fds.size(), 200) < 0) continue;
    const auto now = std::chrono::steady_clock::now();
    // Existing connections first: fds[i + 1] is conns[i] until something is closed.
    std::vector<bool> done(conns.size(), false);
    for (std::size_t i = 0; i < conns.size(); ++i) {
      auto& c = conns[i];
      const auto ev = fds[i + 1].revents;
      if (ev == 0) {
        done[i] = now >= c.deadline;
        continue;
      }
      if (c.out.empty()) {
        char buf[2048];
        const auto n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n <= 0) {
          done[i] = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
          continue;
        }
        c.in.append(buf, static_cast<std::size_t>(n));
        if (c.in.find("\r\n\r\n") != std::string::npos || c.in.size() >= kMaxAdminRequest) c.out = respond(c.in);
      } else {
        const auto n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0) c.sent += static_cast<std::size_t>(n);
        done[i] = (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) || c.sent == c.out.size();
      }
      done[i] = done[i] || now >= c.deadline;
    }
    for (std::size_t i = conns.size(); i-- > 0;)
      if (done[i]) close_at(i);
    if (fds[0].revents & POLLIN) {
      for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        if (conns.size() >= kMaxAdminConnections) close_at(0);  // the oldest: probes come back
        conns.push_back(AdminConnection{fd, {}, {}, 0, now + kAdminRequestTime});
      }
    }
  }
  for (const auto& c : conns) ::close(c.fd);
}

std::string AdminServer::respond(const std::string& req) {
  const auto line_end = req.find("\r\n");
  const std::string line = req.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.find(' ', sp1 + 1);
  const std::string method = line.substr(0, sp1);
  std::string path = sp1 == std::string::npos ? "" : line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (const auto q = path.find('?'); q != std::string::npos) path.resize(q);

  int status = 200;
  std::string body;
  std::string type = "text/plain; charset=utf-8";
  if (method != "GET" && method != "HEAD") {
    status = 405;
    body = "method not allowed\n";
  } else if (path == "/healthz") {
    body = "ok\n";
  } else if (path == "/readyz") {
    const bool ready = ready_ ? ready_() : true;
    status = ready ? 200 : 503;
    body = ready ? "ready\n" : "not ready\n";
  } else if (path == "/metrics") {
    body = metrics_.render();
    type = "text/plain; version=0.0.4; charset=utf-8";
  } else {
    status = 404;
    body = "not found\n";
  }
  const char* reason = status == 200   ? "OK"
                       : status == 503 ? "Service Unavailable"
                       : status == 404 ? "Not Found"
                                       : "Method Not Allowed";
  std::string resp = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + type +
                     "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  if (method != "HEAD") resp += body;
  return resp;
}

}  // namespace cryptoflow
