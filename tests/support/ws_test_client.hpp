#pragma once
// A blocking WebSocket client for the end-to-end tests (Boost.Beast, plain ws on loopback).
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cryptoflow::test {

// A WebSocket client: handshake and any requests first (send/receive), then read_in_background.
class WsClient {
 public:
  WsClient(int port, const std::string& target) : ws_(ioc_) {
    ws_.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    ws_.handshake("127.0.0.1:" + std::to_string(port), target);
  }
  ~WsClient() {
    boost::beast::error_code ignored;
    ws_.next_layer().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    if (reader_.joinable()) reader_.join();
  }
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;
  void send(const std::string& text) { ws_.write(boost::asio::buffer(text)); }
  std::string receive() {
    boost::beast::flat_buffer b;
    ws_.read(b);
    return boost::beast::buffers_to_string(b.data());
  }
  void read_in_background() {
    reader_ = std::thread([this] {
      for (;;) {
        boost::beast::flat_buffer b;
        boost::beast::error_code ec;
        ws_.read(b, ec);
        if (ec) return;
        std::lock_guard lock(mu_);
        messages_.push_back(boost::beast::buffers_to_string(b.data()));
      }
    });
  }
  std::vector<std::string> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }

 private:
  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
  std::thread reader_;
  mutable std::mutex mu_;
  std::vector<std::string> messages_;
};

}  // namespace cryptoflow::test
