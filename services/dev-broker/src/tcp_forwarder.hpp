#pragma once
// Forwards TCP connections from a fixed loopback port to another port (both ways, byte for
// byte). dev-broker uses it for --port: librdkafka 2.0.2's mock brokers listen on ephemeral
// ports only, so clients bootstrap through the fixed port and then follow the metadata.
#include <atomic>
#include <cstdint>
#include <list>
#include <mutex>
#include <thread>

namespace cryptoflow {

class TcpForwarder {
 public:
  TcpForwarder(std::uint16_t listen_port, std::uint16_t target_port);
  ~TcpForwarder();
  TcpForwarder(const TcpForwarder&) = delete;
  TcpForwarder& operator=(const TcpForwarder&) = delete;

 private:
  void accept_loop();
  void pump(int client_fd);
  int listen_fd_ = -1;
  std::uint16_t target_port_;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::list<std::thread> pumps_;
};

}  // namespace cryptoflow
