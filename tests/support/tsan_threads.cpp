// Linked into the test executables of the ThreadSanitizer build only.
//
// librdkafka uses C11 threads: thrd_create, thrd_join, thrd_detach, mtx_*, cnd_*. glibc implements them without going
// through the pthread functions that GCC 12's ThreadSanitizer intercepts, so a thread started by
// thrd_create has no sanitizer state (its first allocation crashes), and librdkafka's locks are
// invisible: every hand-off of a record from its threads to ours looks like a race. Defining
// these functions here puts them ahead of glibc's for librdkafka (an executable's symbols come
// first) and routes them through the intercepted pthread calls. glibc's mtx_t and cnd_t are
// pthread_mutex_t and pthread_cond_t under another name (same size and layout).
#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <memory>

namespace {

struct Start {
  thrd_start_t func;
  void* arg;
};

void* trampoline(void* p) {
  const std::unique_ptr<Start> start(static_cast<Start*>(p));
  // thrd_join reads the thread's int result back from this pointer-sized value, as glibc does.
  return reinterpret_cast<void*>(  // NOLINT(performance-no-int-to-ptr): the thread result, as glibc does
      static_cast<std::intptr_t>(start->func(start->arg)));
}

}  // namespace

namespace {

int result(int rc) {
  return rc == 0 ? thrd_success : rc == ETIMEDOUT ? thrd_timedout : rc == EBUSY ? thrd_busy : thrd_error;
}
pthread_mutex_t* m(mtx_t* x) {
  return reinterpret_cast<pthread_mutex_t*>(x);
}
pthread_cond_t* c(cnd_t* x) {
  return reinterpret_cast<pthread_cond_t*>(x);
}

}  // namespace

extern "C" {

int mtx_init(mtx_t* mutex, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  const int rc = pthread_mutex_init(m(mutex), &attr);
  pthread_mutexattr_destroy(&attr);
  return result(rc);
}
int mtx_lock(mtx_t* mutex) {
  return result(pthread_mutex_lock(m(mutex)));
}
int mtx_trylock(mtx_t* mutex) {
  return result(pthread_mutex_trylock(m(mutex)));
}
int mtx_timedlock(mtx_t* mutex, const struct timespec* until) {
  return result(pthread_mutex_timedlock(m(mutex), until));
}
int mtx_unlock(mtx_t* mutex) {
  return result(pthread_mutex_unlock(m(mutex)));
}
void mtx_destroy(mtx_t* mutex) {
  pthread_mutex_destroy(m(mutex));
}
int cnd_init(cnd_t* cond) {
  return result(pthread_cond_init(c(cond), nullptr));
}
int cnd_signal(cnd_t* cond) {
  return result(pthread_cond_signal(c(cond)));
}
int cnd_broadcast(cnd_t* cond) {
  return result(pthread_cond_broadcast(c(cond)));
}
int cnd_wait(cnd_t* cond, mtx_t* mutex) {
  return result(pthread_cond_wait(c(cond), m(mutex)));
}
int cnd_timedwait(cnd_t* cond, mtx_t* mutex, const struct timespec* until) {
  return result(pthread_cond_timedwait(c(cond), m(mutex), until));
}
void cnd_destroy(cnd_t* cond) {
  pthread_cond_destroy(c(cond));
}

int thrd_create(thrd_t* thread, thrd_start_t func, void* arg) {
  auto start = std::make_unique<Start>(Start{func, arg});
  const int rc = pthread_create(thread, nullptr, trampoline, start.get());
  if (rc != 0) return rc == EAGAIN ? thrd_nomem : thrd_error;
  (void)start.release();  // the thread owns it now
  return thrd_success;
}

int thrd_join(thrd_t thread, int* res) {
  void* value = nullptr;
  const int rc = pthread_join(thread, &value);
  if (rc == 0 && res) *res = static_cast<int>(reinterpret_cast<std::intptr_t>(value));
  return result(rc);
}

int thrd_detach(thrd_t thread) {
  return result(pthread_detach(thread));
}

}  // extern "C"
