// multiproc testing — RAII handles: tests that need no manual frees.
//
// Part of "multiproc/testing.h" (include that). Each multiproc handle gets
// a std::unique_ptr type whose deleter releases it the way a test wants,
// whatever path the test leaves by (an ASSERT_* returning early included):
//
//     mproc::testing::PoolPtr pool;
//     ASSERT_MPROC_OK(mproc_pool_new(mproc::testing::Out(pool), &opts));
//     mproc::testing::FuturePtr f;
//     ASSERT_MPROC_OK(mproc_pool_submit(pool.get(), "square", args.get(),
//                                       nullptr, mproc::testing::Out(f)));
//     // no mproc_future_free, no mproc_pool_free: both go at scope exit
//
// Out(p) hands a C function the `T **` it fills (as C++23's std::out_ptr):
// whatever the function stores there — a new handle, or NULL on failure —
// replaces p's old handle (which is released) once the full expression
// ends.
#ifndef MPROC_TESTING_HANDLES_H
#define MPROC_TESTING_HANDLES_H

#include <memory>

#include "multiproc/pool.h"
#include "multiproc/process.h"
#include "multiproc/value.h"

namespace mproc {
namespace testing {

// mproc_value_free. (A value that belongs to a container is ignored by
// mproc_value_free, so a ValuePtr may even hold one: nothing happens.)
struct ValueDeleter {
  void operator()(mproc_value_t* v) const { mproc_value_free(v); }
};
using ValuePtr = std::unique_ptr<mproc_value_t, ValueDeleter>;

// A Process that may still run: it is killed (SIGKILL) and joined, then
// closed, so a test that fails halfway never leaves a child or a zombie
// behind. A process never started, or already ended, is just closed.
// Use it only in the process that created the handle (a forked child that
// inherited a copy releases only its copy, as mproc_process_close does).
struct ProcessDeleter {
  void operator()(mproc_process_t* p) const;
};
using ProcessPtr = std::unique_ptr<mproc_process_t, ProcessDeleter>;

// mproc_pool_free: terminates the pool if it still runs (its unfinished
// tasks fail with MPROC_ETERMINATED), waits for its workers, frees it.
// Free the pool's futures and iterators before or after: both are valid.
struct PoolDeleter {
  void operator()(mproc_pool_t* pool) const { mproc_pool_free(pool); }
};
using PoolPtr = std::unique_ptr<mproc_pool_t, PoolDeleter>;

// mproc_future_free (the task runs to its end regardless).
struct FutureDeleter {
  void operator()(mproc_future_t* f) const { mproc_future_free(f); }
};
using FuturePtr = std::unique_ptr<mproc_future_t, FutureDeleter>;

// mproc_iter_free (tasks still in flight run to their end, unobserved).
struct IterDeleter {
  void operator()(mproc_iter_t* it) const { mproc_iter_free(it); }
};
using IterPtr = std::unique_ptr<mproc_iter_t, IterDeleter>;

// The adapter Out() returns; use it only as a function argument.
template <typename T, typename D>
class OutPtr {
 public:
  explicit OutPtr(std::unique_ptr<T, D>& owner) : owner_(owner) {}
  OutPtr(const OutPtr&) = delete;
  OutPtr& operator=(const OutPtr&) = delete;
  ~OutPtr() { owner_.reset(raw_); }
  operator T**() { return &raw_; }  // NOLINT: converts implicitly, by design

 private:
  std::unique_ptr<T, D>& owner_;
  T* raw_ = nullptr;
};

// Passes `p` to a C function taking `T **out`: Out(p) converts to a T**;
// when the full expression ends, p owns what the function stored (its old
// handle, if any, is released then).
template <typename T, typename D>
OutPtr<T, D> Out(std::unique_ptr<T, D>& p) {
  return OutPtr<T, D>(p);
}

}  // namespace testing
}  // namespace mproc

#endif  // MPROC_TESTING_HANDLES_H
