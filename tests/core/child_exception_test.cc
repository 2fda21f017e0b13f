// A C++ exception escaping a target never returns into the caller's code in
// the child (this test body, gtest's handlers): the child ends as a failed
// target — exit code 1 and the exception's description for the parent —
// for Process children, pool workers (tasks and map chunks) and pool
// initializers alike.
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

#include "multiproc.h"
#include "tests/support/fork_support.h"
#include "tests/workers/pool_util.h"

namespace {

using namespace pool_test;

// Exit code of a child that came back into this file's catch blocks.
constexpr int kReturnedIntoCaller = 77;

struct Unrelated {
  int x;
};

struct Base {
  virtual ~Base() = default;
  int pad = 0;
};

// std::exception as a second base: what() is found through the base.
struct Derived : Base, std::runtime_error {
  Derived() : std::runtime_error("from a derived class") {}
};

int ThrowRuntimeError(mproc_call_t*) { throw std::runtime_error("boom"); }
int ThrowInt(mproc_call_t*) { throw 42; }
int ThrowUnrelated(mproc_call_t*) { throw Unrelated{1}; }
int ThrowDerived(mproc_call_t*) { throw Derived(); }

class ChildException : public mproc_test::Deadline {
 protected:
  ChildException() : Deadline(60) {}

  // Starts target in a Process and returns its exit code and error. Any
  // exception escaping into this frame in the child ends the child with
  // kReturnedIntoCaller.
  int Run(mproc_target_fn target, std::string* error) {
    mproc_process_opts_t opts = {};
    opts.target = target;
    mproc_process_t* p = nullptr;
    EXPECT_EQ(0, mproc_process_new(&p, &opts));
    pid_t self = getpid();
    try {
      EXPECT_EQ(0, mproc_process_start(p));
    } catch (...) {
      if (getpid() != self) _exit(kReturnedIntoCaller);
      throw;
    }
    EXPECT_EQ(0, mproc_process_join(p, 20));
    int code = -1000;
    EXPECT_EQ(1, mproc_process_exitcode(p, &code));
    const char* e = mproc_process_error(p);
    *error = e ? e : "";
    EXPECT_EQ(0, mproc_process_close(p));
    return code;
  }
};

TEST_F(ChildException, StdExceptionEndsTheChildWithItsTypeAndWhat) {
  std::string error;
  EXPECT_EQ(1, Run(ThrowRuntimeError, &error));
  EXPECT_EQ("std::runtime_error: boom", error);
}

TEST_F(ChildException, DerivedExceptionIsDescribedByItsDynamicType) {
  std::string error;
  EXPECT_EQ(1, Run(ThrowDerived, &error));
  EXPECT_NE(std::string::npos, error.find("Derived: from a derived class"))
      << error;
}

TEST_F(ChildException, NonStdExceptionsAreNamedByType) {
  std::string error;
  EXPECT_EQ(1, Run(ThrowInt, &error));
  EXPECT_EQ("exception of type 'int'", error);
  EXPECT_EQ(1, Run(ThrowUnrelated, &error));
  EXPECT_NE(std::string::npos, error.find("Unrelated")) << error;
}

// The parent's own exceptions still work after children threw.
TEST_F(ChildException, ParentExceptionsAreUntouched) {
  std::string error;
  EXPECT_EQ(1, Run(ThrowRuntimeError, &error));
  EXPECT_THROW(throw std::logic_error("parent"), std::logic_error);
}

// ---- Pool workers.

MPROC_TARGET(throw_at_3) {
  int64_t x;
  if (mproc_unpack(call, "L", &x) < 0) return -1;
  if (x == 3) throw std::invalid_argument("three is not welcome");
  return mproc_call_return(call, "L", x + 100);
}

TEST_F(ChildException, PoolTaskThatThrowsFailsAloneAndThePoolGoesOn) {
  PoolPtr pool = NewPool(2);
  for (int64_t x = 0; x < 8; x++) {
    Value args = Pack("(L)", x);
    mproc_value_t* r = nullptr;
    mproc_task_error_t err;
    int rc = mproc_pool_apply(pool.get(), "throw_at_3", args.get(), nullptr,
                              &r, &err);
    if (x == 3) {
      EXPECT_EQ(MPROC_EFAILED, rc);
      EXPECT_EQ(1, err.exit_code);
      EXPECT_STREQ("std::invalid_argument: three is not welcome",
                   err.message);
    } else {
      ASSERT_EQ(0, rc) << err.message;
      EXPECT_EQ(x + 100, AsInt(r));
      mproc_value_free(r);
    }
  }
}

TEST_F(ChildException, ChunkItemThatThrowsFailsWithItsDescription) {
  PoolPtr pool = NewPool(1);
  Value items = Range(6);
  mproc_imap_opts_t o = {};
  o.target = "throw_at_3";
  o.items = items.get();
  o.chunksize = 6;
  mproc_iter_t* raw = nullptr;
  ASSERT_EQ(0, mproc_pool_imap(pool.get(), &o, &raw));
  Iter it(raw);
  mproc_item_t item;
  for (size_t i = 0; i < 6; i++) {
    ASSERT_EQ(1, mproc_iter_next(it.get(), 20, &item)) << i;
    if (i < 3) {
      ASSERT_EQ(0, item.error.code) << item.error.message;
      EXPECT_EQ(static_cast<int64_t>(i) + 100, AsInt(item.result));
    } else if (i == 3) {
      EXPECT_EQ(MPROC_EFAILED, item.error.code);
      EXPECT_STREQ("std::invalid_argument: three is not welcome",
                   item.error.message);
    } else {
      // Never run: the exception ended the worker.
      EXPECT_EQ(MPROC_EWORKER, item.error.code);
      EXPECT_NE(nullptr, strstr(item.error.message, "item 3 threw"))
          << item.error.message;
    }
  }
  // The pool serves on with a new worker.
  Value args = Pack("(L)", static_cast<int64_t>(5));
  mproc_value_t* r = nullptr;
  ASSERT_EQ(0, mproc_pool_apply(pool.get(), "throw_at_3", args.get(), nullptr,
                                &r, nullptr));
  EXPECT_EQ(105, AsInt(r));
  mproc_value_free(r);
}

int ThrowingInitializer(mproc_call_t*) {
  throw std::runtime_error("cannot load the model");
}

TEST_F(ChildException, InitializerThatThrowsBreaksThePoolWithItsDescription) {
  mproc_pool_opts_t opts = {};
  opts.workers = 1;
  opts.initializer = ThrowingInitializer;
  PoolPtr pool = NewPool(opts);
  Value args = Pack("(L)", static_cast<int64_t>(1));
  mproc_value_t* r = nullptr;
  mproc_task_error_t err;
  pid_t self = getpid();
  int rc;
  try {
    rc = mproc_pool_apply(pool.get(), "throw_at_3", args.get(), nullptr, &r,
                          &err);
  } catch (...) {
    if (getpid() != self) _exit(kReturnedIntoCaller);
    throw;
  }
  EXPECT_EQ(MPROC_EBROKEN, rc);
  EXPECT_NE(nullptr, strstr(err.message, "std::runtime_error: cannot load "
                                         "the model"))
      << err.message;
}

}  // namespace
