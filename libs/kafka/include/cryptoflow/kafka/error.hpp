#pragma once
// One error type for everything Kafka, classified once, here, by what the caller should do:
//   retriable  the same call may succeed if made again (coordinator moving, transient network)
//   abortable  the current transaction must be aborted; rewind to the last commit and go on
//   fatal      the client can do nothing more (fenced by a newer instance, fatal idempotence
//              error): stop the process (exit 1), commit nothing further
//   timed_out  the call did not finish in time; what it did is unknown
//   failed     anything else (unknown topic, authorization, invalid request): not worth retrying
#include <stdexcept>
#include <string>

namespace cryptoflow::kafka {

enum class ErrorKind { retriable, abortable, fatal, timed_out, failed };

const char* to_string(ErrorKind kind);

class KafkaError : public std::runtime_error {
 public:
  // code: librdkafka's name of the error ("PRODUCER_FENCED", "_TIMED_OUT"); empty for errors
  // that the library itself raises.
  KafkaError(ErrorKind kind, const std::string& what, std::string code = {})
      : std::runtime_error(what), kind_(kind), code_(std::move(code)) {}
  [[nodiscard]] ErrorKind kind() const { return kind_; }
  [[nodiscard]] const std::string& code() const { return code_; }
  [[nodiscard]] bool is_fatal() const { return kind_ == ErrorKind::fatal; }
  [[nodiscard]] bool is_retriable() const { return kind_ == ErrorKind::retriable; }
  [[nodiscard]] bool requires_abort() const { return kind_ == ErrorKind::abortable; }
  [[nodiscard]] bool timed_out() const { return kind_ == ErrorKind::timed_out; }

 private:
  ErrorKind kind_;
  std::string code_;
};

// A blocking call gave up because its caller asked to stop (SIGTERM while it waited).
class Cancelled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace cryptoflow::kafka
