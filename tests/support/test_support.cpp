#include "test_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>

#include "cryptoflow/net/http.hpp"
#include "cryptoflow/runtime/log.hpp"

extern char** environ;

namespace cryptoflow::test {

// A port from below the kernel's ephemeral range (ip_local_port_range, 32768-60999 on Linux):
// a port the kernel handed out for bind(0) and that was closed again can be taken as the source
// port of any outgoing connection (a Kafka client's) before the service under test binds it, and
// then the service cannot listen. Ports below the range are never chosen by the kernel; each
// process walks them from a random start so that concurrent tests rarely try the same one, and a
// port that cannot be bound now is skipped.
int free_port() {
  static std::mutex mutex;
  static int next = 0;
  constexpr int first = 10000, last = 32767;
  std::lock_guard lock(mutex);
  if (next == 0) next = first + static_cast<int>(std::random_device{}() % (last - first + 1));
  for (int tries = 0; tries <= last - first; ++tries) {
    const int port = next;
    next = next == last ? first : next + 1;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("free_port: socket: " + errno_text(errno));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    if (bound) return port;
  }
  throw std::runtime_error("free_port: no free port in 10000-32767");
}

std::string fixture(const std::string& relative) {
  return std::string(CRYPTOFLOW_FIXTURES_DIR) + "/" + relative;
}

std::string binary(const std::string& service) {
  if (service == "tickers_consumer" || service == "book_reader")
    return std::string(CRYPTOFLOW_BINARY_DIR) + "/docs/examples/" + service;
  return std::string(CRYPTOFLOW_BINARY_DIR) + "/services/" + service + "/" + service;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "cryptoflow-test.XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Process::Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env,
                 const std::string& stderr_path) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);

  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra_env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);
  const int rc = ::posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  if (rc != 0) {
    ::close(pipefd[0]);
    throw std::runtime_error("cannot start " + argv[0] + ": " + errno_text(rc));
  }
  out_fd_ = pipefd[0];
}

Process::~Process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::seconds(10));
  }
  if (out_fd_ >= 0) ::close(out_fd_);
}

std::optional<std::string> Process::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      auto line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const auto n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

std::string Process::read_all(std::chrono::milliseconds timeout) {
  std::string out;
  while (auto line = read_line(timeout)) out += *line + "\n";
  return out + buffer_;
}

void Process::signal(int sig) {
  if (pid_ > 0 && !exit_code_) ::kill(pid_, sig);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool Process::running() {
  return !wait(std::chrono::milliseconds(0)).has_value();
}

int Process::terminate(std::chrono::milliseconds timeout) {
  signal(SIGTERM);
  return wait(timeout).value_or(-1);
}

RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env) {
  TempDir dir;
  const auto err = (dir.path() / "stderr").string();
  Process p(argv, extra_env, err);
  auto out = p.read_all(std::chrono::seconds(30));
  const auto code = p.wait(std::chrono::seconds(30)).value_or(-1);
  return {code, out + read_file(err)};
}

namespace {
// Reads the helper's stdout until a line starts with `prefix` (moto prints its own lines too).
std::optional<std::string> line_starting(Process& p, const std::string& prefix, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto line = p.read_line(std::max(left, std::chrono::milliseconds(1)));
    if (!line) return std::nullopt;
    if (line->rfind(prefix, 0) == 0) return line->substr(prefix.size());
  }
  return std::nullopt;
}
}  // namespace

S3Server::S3Server(std::string bucket) : bucket_(std::move(bucket)), port_(free_port()) {
  process_ = std::make_unique<Process>(
      std::vector<std::string>{CRYPTOFLOW_MOTO_PYTHON, std::string(CRYPTOFLOW_SOURCE_DIR) + "/tests/support/moto_s3.py",
                               std::to_string(port_), bucket_},
      std::map<std::string, std::string>{}, (dir_.path() / "moto.log").string());
  const auto line = line_starting(*process_, "credentials ", std::chrono::seconds(60));
  if (!line) throw std::runtime_error("moto_s3.py did not start:\n" + read_file((dir_.path() / "moto.log").string()));
  const auto space = line->find(' ');
  key_id_ = line->substr(0, space);
  secret_ = line->substr(space + 1);
}
S3Server::~S3Server() {
  if (process_) process_->terminate(std::chrono::seconds(10));
}
void S3Server::down() {
  process_->signal(SIGUSR1);
  if (!line_starting(*process_, "down", std::chrono::seconds(30))) throw std::runtime_error("moto_s3.py did not stop");
}
void S3Server::up() {
  process_->signal(SIGUSR2);
  if (!line_starting(*process_, "up", std::chrono::seconds(30)))
    throw std::runtime_error("moto_s3.py did not start again");
}

InfluxServer::InfluxServer() : port_(free_port()) {
  start();
}
InfluxServer::~InfluxServer() {
  stop();
}

void InfluxServer::start() {
  auto conf = read_file(std::string(CRYPTOFLOW_SOURCE_DIR) + "/deploy/local/influxdb.conf.in");
  auto replace = [&](const std::string& from, const std::string& to) {
    for (auto at = conf.find(from); at != std::string::npos; at = conf.find(from, at + to.size()))
      conf.replace(at, from.size(), to);
  };
  replace("@DIR@", (dir_.path() / "influxdb").string());
  replace("@HTTP_PORT@", std::to_string(port_));
  replace("@RPC_PORT@", std::to_string(free_port()));
  const auto conf_path = (dir_.path() / "influxdb.conf").string();
  std::ofstream(conf_path) << conf;
  process_ = std::make_unique<Process>(std::vector<std::string>{"influxd", "-config", conf_path},
                                       std::map<std::string, std::string>{}, (dir_.path() / "influxd.log").string());
  HttpClient http;
  if (!eventually([&] { return http.get(url() + "/ping").status == 204; }, std::chrono::seconds(30)))
    throw std::runtime_error("influxd did not start: " + read_file((dir_.path() / "influxd.log").string()));
  const auto created =
      http.post(url() + "/query", "q=CREATE+DATABASE+crypto", {"Content-Type: application/x-www-form-urlencoded"});
  if (!created.ok()) throw std::runtime_error("cannot create database: " + created.body);
}

void InfluxServer::stop() {
  if (process_) {
    process_->signal(SIGCONT);
    process_->terminate();
    process_.reset();
  }
}
void InfluxServer::pause() {
  process_->signal(SIGSTOP);
}
void InfluxServer::resume() {
  process_->signal(SIGCONT);
}

std::string InfluxServer::query(const std::string& db, const std::string& q) const {
  HttpClient http;
  const auto resp = http.get(url() + "/query?db=" + http.escape(db) + "&epoch=ms&q=" + http.escape(q));
  if (!resp.ok()) throw std::runtime_error("query failed: " + resp.error + resp.body);
  return resp.body;
}

HttpStandIn::HttpStandIn(std::function<HttpReply(const HttpRequest&)> handler) : handler_(std::move(handler)) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0)
    throw std::runtime_error("stand-in: cannot listen: " + errno_text(errno));
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { serve(); });
}

HttpStandIn::~HttpStandIn() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

std::vector<HttpRequest> HttpStandIn::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void HttpStandIn::serve() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) continue;
    // Keep-alive: serve requests on this connection until the client closes it.
    std::string in;
    char buf[65536];
    for (bool open = true; open && !stop_;) {
      auto head_end = in.find("\r\n\r\n");
      while (head_end == std::string::npos) {
        pollfd cp{c, POLLIN, 0};
        if (::poll(&cp, 1, 100) <= 0) {
          if (stop_) break;
          continue;
        }
        const auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) {
          open = false;
          break;
        }
        in.append(buf, static_cast<std::size_t>(n));
        head_end = in.find("\r\n\r\n");
      }
      if (!open || head_end == std::string::npos) break;
      HttpRequest req;
      std::istringstream head(in.substr(0, head_end));
      std::string line;
      std::getline(head, line);
      std::istringstream rl(line);
      rl >> req.method >> req.target;
      while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
        req.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      }
      std::size_t length = 0;
      if (auto it = req.headers.find("content-length"); it != req.headers.end()) length = std::stoul(it->second);
      while (in.size() < head_end + 4 + length) {
        const auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
      }
      req.body = in.substr(head_end + 4, length);
      in.erase(0, head_end + 4 + length);
      const auto reply = handler_(req);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
      }
      std::string out = "HTTP/1.1 " + std::to_string(reply.status) +
                        " X\r\nContent-Length: " + std::to_string(reply.body.size()) + "\r\n";
      for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
      out += "\r\n" + reply.body;
      ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
    }
    ::close(c);
  }
}

std::int64_t max_in_window(const std::vector<std::int64_t>& t, std::int64_t window_ms) {
  std::int64_t most = 0;
  for (auto it = t.begin(); it != t.end(); ++it)
    most = std::max<std::int64_t>(most, std::upper_bound(it, t.end(), *it + window_ms - 1) - it);
  return most;
}

double metric_of(HttpClient& http, int port, const std::string& name) {
  const auto r = http.get("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  const auto at = r.body.find("\n" + name + " ");
  return r.ok() && at != std::string::npos ? std::stod(r.body.substr(at + name.size() + 2)) : -1;
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout, std::chrono::milliseconds every) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(every);
  }
  return pred();
}

}  // namespace cryptoflow::test
