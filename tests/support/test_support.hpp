#pragma once
// Helpers for integration and end-to-end tests: free loopback ports, temporary directories,
// child processes, a real local influxd, and a stand-in HTTP server.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cryptoflow/messages/messages.hpp"
#include "cryptoflow/net/http.hpp"
#include "cryptoflow/runtime/service_host.hpp"

namespace cryptoflow::test {

int free_port();
std::string fixture(const std::string& relative);  // absolute path under tests/fixtures
std::string binary(const std::string& service);    // path of a built service binary
std::string read_file(const std::string& path);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A child process; stdout is a pipe (read_line), stderr goes to a log file.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env,
          const std::string& stderr_path);
  ~Process();  // SIGKILL if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  std::string read_all(std::chrono::milliseconds timeout);
  void signal(int sig);
  // Sends SIGTERM and waits; returns the exit code (128 + signal if killed), -1 on timeout.
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits for exit; returns the exit code, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  [[nodiscard]] bool running();
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
  std::optional<int> exit_code_;
};

// Runs a command to completion; returns exit code and stdout+stderr.
struct RunResult {
  int code;
  std::string output;
};
RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env = {});

// A real InfluxDB 1.x (Debian's influxd) on a free loopback port, data in a temp directory,
// configured from deploy/local/influxdb.conf.in (the same file the demo uses).
class InfluxServer {
 public:
  InfluxServer();
  ~InfluxServer();
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void stop();    // SIGTERM and wait
  void start();   // (again) on the same port and data
  void pause();   // SIGSTOP: frozen, connections hang
  void resume();  // SIGCONT
  // Runs an InfluxQL query against db (epoch=ms) and returns the JSON answer.
  std::string query(const std::string& db, const std::string& q) const;

 private:
  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Process> process_;
};

// A real S3 API on a free loopback port (tests/support/moto_s3.py: moto's server, signatures
// checked) with one bucket and the only credentials it accepts.
class S3Server {
 public:
  explicit S3Server(std::string bucket = "archive");
  ~S3Server();
  [[nodiscard]] std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] const std::string& bucket() const { return bucket_; }
  [[nodiscard]] const std::string& access_key_id() const { return key_id_; }
  [[nodiscard]] const std::string& secret_access_key() const { return secret_; }
  void down();  // the HTTP server stops: connections refused; the objects are kept
  void up();    // serving again on the same port

 private:
  TempDir dir_;
  std::string bucket_;
  int port_ = 0;
  std::string key_id_, secret_;
  std::unique_ptr<Process> process_;
};

// A stand-in HTTP/1.1 server: records each request and answers with the handler's response.
struct HttpRequest {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  // lower-case names
};
struct HttpReply {
  int status = 204;
  std::string body;
  std::map<std::string, std::string> headers;
};
class HttpStandIn {
 public:
  explicit HttpStandIn(std::function<HttpReply(const HttpRequest&)> handler);
  ~HttpStandIn();
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::vector<HttpRequest> requests() const;

 private:
  void serve();
  std::function<HttpReply(const HttpRequest&)> handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<HttpRequest> requests_;
  std::thread thread_;
};

// The most entries of `sorted_times` (ms) that fall into any window of `window_ms`.
std::int64_t max_in_window(const std::vector<std::int64_t>& sorted_times, std::int64_t window_ms);

// The unlabelled counter or gauge `name` of the process whose admin server is on port, or -1.
double metric_of(HttpClient& http, int port, const std::string& name);

// Polls until pred() is true or the timeout passes; returns pred()'s last value.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(100));

// The TRXUSDT @trade stream of binance-data-processor (10,000 trades, ids 348656870..348666869)
// as combined-stream frames (times in microseconds, as recorded) and as trades (milliseconds).
std::vector<std::string> trx_frames();
std::vector<Trade> trx_trades();
// freqtrade's XRP/ETH aggTrades of 2019-10-11 (12,477), as the stream would give them.
std::vector<Trade> xrpeth_trades();

// What a service makes of an environment (its --help variables, no others): "accepted", or the
// ConfigError's text, which names the variable.
template <class Options>
std::string config_error(const Service<Options>& service, Config::Env env) {
  try {
    (void)service.parse(Config(service.info.vars, std::move(env)));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace cryptoflow::test
