#include "cryptoflow/kafka/producer.hpp"

#include <atomic>

#include "cryptoflow/runtime/log.hpp"
#include "producer_impl.hpp"

namespace cryptoflow::kafka {

KafkaProducer::KafkaProducer(const Properties& props, MetricsRegistry& metrics, const std::string& transactional_id)
    : impl_(std::make_unique<Impl>(metrics, !transactional_id.empty())) {
  Properties p;
  p.set("linger.ms", "5").set("compression.type", "lz4").set("client.id", "cryptoflow-producer");
  p.set("queue.buffering.max.kbytes", "8192");  // not 1 GB: a replay faster than the broker waits instead
  for (const auto& [k, v] : props.items()) p.set(k, v);
  // Guarantees the services rely on: not overridable.
  p.set("enable.idempotence", "true").set("acks", "all");
  if (!transactional_id.empty()) p.set("transactional.id", transactional_id);
  auto conf = native::make_conf(p, RD_KAFKA_PRODUCER);
  rd_kafka_conf_set_opaque(conf.get(), impl_.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::on_delivery);
  impl_->rk = native::make_handle(RD_KAFKA_PRODUCER, std::move(conf));
}

KafkaProducer::~KafkaProducer() {
  if (rd_kafka_flush(impl_->rk.get(), 30'000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    log_error("producer closed with undelivered messages", {{"in_flight", in_flight()}});
}

void KafkaProducer::produce(const Message& m) {
  rd_kafka_t* rk = impl_->rk.get();
  const std::string topic(m.topic);
  for (;;) {
    native::HeadersPtr hdrs;
    if (!m.headers.empty()) {
      hdrs.reset(rd_kafka_headers_new(m.headers.size()));
      for (const auto& h : m.headers)
        native::check(rd_kafka_header_add(hdrs.get(), h.key.data(), static_cast<ssize_t>(h.key.size()), h.value.data(),
                                          static_cast<ssize_t>(h.value.size())),
                      "header " + h.key);
    }
    rd_kafka_vu_t vus[7];
    int n = 0;
    vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[n++].u.cstr = topic.c_str();
    vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
    if (!m.key.empty()) {
      vus[n].vtype = RD_KAFKA_VTYPE_KEY;
      vus[n++].u.mem = {const_cast<char*>(m.key.data()), m.key.size()};
    }
    vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[n++].u.mem = {const_cast<char*>(m.value.data()), m.value.size()};
    vus[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vus[n++].u.i64 = m.timestamp;
    vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vus[n++].u.i32 = m.partition.value_or(RD_KAFKA_PARTITION_UA);
    if (hdrs) {
      vus[n].vtype = RD_KAFKA_VTYPE_HEADERS;
      vus[n++].u.headers = hdrs.get();
    }
    const native::ErrorPtr error(rd_kafka_produceva(rk, vus, static_cast<std::size_t>(n)));
    const auto err = error ? rd_kafka_error_code(error.get()) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (!err) {
      (void)hdrs.release();  // librdkafka owns the headers once the message is enqueued
      rd_kafka_poll(rk, 0);
      return;
    }
    native::throw_if_fatal(rk, "produce to " + topic);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) throw native::to_error(err, "produce to " + topic);
    impl_->queue_full_waits.inc();
    rd_kafka_poll(rk, 100);  // serve delivery reports; the queue drains
  }
}

void KafkaProducer::poll(std::chrono::milliseconds timeout) {
  rd_kafka_poll(impl_->rk.get(), native::to_ms(timeout));
  native::throw_if_fatal(impl_->rk.get(), "producer");
}

void KafkaProducer::flush(std::chrono::milliseconds timeout) {
  const auto err = rd_kafka_flush(impl_->rk.get(), native::to_ms(timeout));
  native::throw_if_fatal(impl_->rk.get(), "flush");
  if (err)
    throw KafkaError(ErrorKind::timed_out,
                     "flush: " + std::to_string(in_flight()) + " messages not acknowledged within " +
                         std::to_string(timeout.count()) + " ms",
                     rd_kafka_err2name(err));
  if (const auto n = std::exchange(impl_->failed_since_flush, 0); n > 0)
    throw KafkaError(impl_->transactional ? ErrorKind::abortable : ErrorKind::failed,
                     std::to_string(n) + " messages could not be delivered (first: " + impl_->first_failure + ")");
}

bool KafkaProducer::warm_up(const std::vector<std::string>& topics, std::chrono::milliseconds timeout,
                            const std::function<bool()>& stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const auto& t : topics) {
    for (;;) {  // in short attempts, so that a stop request is seen while the cluster does not answer
      try {
        (void)native::metadata(
            impl_->rk.get(), t,
            std::min(std::chrono::milliseconds(500), std::chrono::milliseconds(native::remaining_ms(deadline))));
        break;
      } catch (const KafkaError& e) {
        if ((stop && stop()) || std::chrono::steady_clock::now() >= deadline) {
          log_warn("topic metadata not available yet", {{"topic", t}, {"error", e.what()}});
          return false;
        }
      }
    }
  }
  return true;
}

bool KafkaProducer::reachable(std::chrono::milliseconds timeout) const {
  try {
    return native::cluster_metadata(impl_->rk.get(), false, timeout)->broker_cnt > 0;
  } catch (const KafkaError&) {
    return false;
  }
}

std::uint64_t KafkaProducer::delivered() const {
  return impl_->delivered.load(std::memory_order_relaxed);
}
std::uint64_t KafkaProducer::failed() const {
  return impl_->failed.load(std::memory_order_relaxed);
}
void KafkaProducer::purge() {
  if (const auto err = rd_kafka_purge(impl_->rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
    log_warn("producer purge failed", {{"error", rd_kafka_err2str(err)}});
  rd_kafka_poll(impl_->rk.get(), 0);  // the purged messages' delivery reports
}

int KafkaProducer::in_flight() const {
  return rd_kafka_outq_len(impl_->rk.get());
}

}  // namespace cryptoflow::kafka
