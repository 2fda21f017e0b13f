/* The child's boundary with the user's code: see boundary.h. */
#include "core/boundary.h"

#include "core/fork.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define MPROC__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MPROC__ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define MPROC__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MPROC__TSAN 1
#endif
#endif
#ifdef MPROC__ASAN
#include <pthread.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif
#ifdef MPROC__TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* The C++ runtime (libstdc++, Itanium C++ ABI), when the program has one.
 * Weak: a C program links none of it, and every use checks for NULL. */
extern void *__cxa_current_exception_type(void) __attribute__((weak));
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *n,
                            int *status) __attribute__((weak));
/* std::set_terminate(void (*)()) */
extern void *_ZSt13set_terminatePFvvE(void (*handler)(void))
    __attribute__((weak));
/* std::current_exception() returns a std::exception_ptr: a class with a
 * non-trivial destructor, so it is returned through a hidden pointer to the
 * caller's storage (one pointer: the exception object). */
extern void _ZSt17current_exceptionv(void **result) __attribute__((weak));
/* std::__exception_ptr::exception_ptr::~exception_ptr() */
extern void _ZNSt15__exception_ptr13exception_ptrD1Ev(void **self)
    __attribute__((weak));
/* typeinfo for std::exception, and the test a catch clause of a class type
 * makes (__cxxabiv1::__class_type_info::__do_catch): whether the thrown
 * type derives from it, adjusting the object pointer to that base. */
extern const char _ZTISt9exception[] __attribute__((weak));
extern bool _ZNK10__cxxabiv117__class_type_info10__do_catchEPKSt9type_infoPPvj(
    const void *self, const void *thrown_type, void **obj, unsigned outer)
    __attribute__((weak));

#define cxx_do_catch \
  _ZNK10__cxxabiv117__class_type_info10__do_catchEPKSt9type_infoPPvj

/* what() of the exception being handled, when it is a std::exception. The
 * text lives in the exception object, which stays alive while handled. */
static const char *std_exception_what(const void *type) {
  if (_ZSt17current_exceptionv == NULL ||
      _ZNSt15__exception_ptr13exception_ptrD1Ev == NULL ||
      _ZTISt9exception == NULL || cxx_do_catch == NULL)
    return NULL;
  void *ep = NULL;
  _ZSt17current_exceptionv(&ep);
  if (ep == NULL) return NULL;
  void *obj = ep;
  const char *what = NULL;
  if (cxx_do_catch(_ZTISt9exception, type, &obj, 1)) {
    /* std::exception's virtual table: the two destructor entries of the
     * Itanium ABI, then what(). obj now points at that base. */
    typedef const char *(*what_fn)(const void *self);
    what_fn fn = (*(what_fn *const *)obj)[2];
    what = fn(obj);
  }
  _ZNSt15__exception_ptr13exception_ptrD1Ev(&ep);
  return what;
}

void mproc__describe_exception(char *buf, size_t size) {
  if (buf == NULL || size == 0) return;
  const void *type = __cxa_current_exception_type != NULL
                         ? __cxa_current_exception_type()
                         : NULL;
  if (type == NULL) {
    snprintf(buf, size, "%s",
             __cxa_current_exception_type != NULL
                 ? "std::terminate called without an active exception"
                 : "unknown exception");
    return;
  }
  /* std::type_info is {vtable, name}; GCC marks the names of types local
   * to a translation unit with a leading '*', which name() skips too. */
  const char *mangled = ((const char *const *)type)[1];
  if (mangled[0] == '*') mangled++;
  int status = -1;
  char *demangled = __cxa_demangle != NULL
                        ? __cxa_demangle(mangled, NULL, NULL, &status)
                        : NULL;
  const char *name = demangled != NULL && status == 0 ? demangled : mangled;
  const char *what = std_exception_what(type);
  if (what != NULL)
    snprintf(buf, size, "%s: %s", name, what);
  else
    snprintf(buf, size, "exception of type '%s'", name);
  free(demangled);
}

/* ---- The escape: std::terminate in a child. */

static mproc__escape_fn escape_fn;
static void *escape_ctx;

void mproc__set_escape(mproc__escape_fn fn, void *ctx) {
  escape_fn = fn;
  escape_ctx = ctx;
}

/* The program's own handler, which ours hands over to wherever no child
 * escape is set (the parent, and children before they run user code). */
static void (*previous_terminate)(void);

static void on_terminate(void) {
  if (escape_fn != NULL) {
    char what[MPROC__ESCAPE_TEXT_MAX];
    mproc__describe_exception(what, sizeof what);
    escape_fn(what, escape_ctx);
  }
  if (previous_terminate != NULL) previous_terminate();
  abort();
}

static void install_terminate(void) {
  previous_terminate =
      (void (*)(void))_ZSt13set_terminatePFvvE(on_terminate);
}

void mproc__boundary_prepare(void) {
  /* Installed once, in the parent, before its first fork: children inherit
   * it and need not write it themselves (a page of the C++ runtime copied
   * in every child). In the parent it only passes on to the handler it
   * replaced. */
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  if (_ZSt13set_terminatePFvvE != NULL) pthread_once(&once, install_terminate);
}

/* ---- The outermost frame. */

#if defined(__x86_64__) || defined(__aarch64__)
#define MPROC__OUTERMOST 1
/* core/outermost.S */
void mproc__call_outermost(void (*fn)(void *), void *arg);
#endif

/* ---- Elsewhere, a fresh stack: makecontext's bottom frame ends unwinding
 * the same way. */

#ifndef MPROC__OUTERMOST

static struct {
  void (*main)(void *);
  void *arg;
} entry;

__attribute__((noreturn)) static void trampoline(void) {
#ifdef MPROC__ASAN
  __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
  entry.main(entry.arg);
  mproc__child_exit(1); /* main must leave the process itself */
}

/* RLIMIT_STACK, as the main thread would have it; mapped lazily, so a big
 * stack costs only the pages the code touches. */
static size_t stack_size(void) {
  struct rlimit rl;
  size_t size = (size_t)8 << 20;
  if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    size = (size_t)rl.rlim_cur;
  if (size > ((size_t)256 << 20)) size = (size_t)256 << 20;
  if (size < ((size_t)256 << 10)) size = (size_t)256 << 10;
  return size;
}

__attribute__((noreturn)) static void run_on_fresh_stack(void (*main)(void *),
                                                       void *arg) {
  entry.main = main;
  entry.arg = arg;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t size = stack_size();
  char *base = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                    -1, 0);
  ucontext_t uc;
  if (base == MAP_FAILED || getcontext(&uc) != 0) {
    trampoline(); /* no isolation, but the child still runs */
  }
  /* A guard page below the stack: an overflow faults instead of writing
   * into whatever is mapped there. */
  mprotect(base, page, PROT_NONE);
  uc.uc_stack.ss_sp = base + page;
  uc.uc_stack.ss_size = size;
  uc.uc_link = NULL; /* the bottom frame: nothing to return to */
  makecontext(&uc, trampoline, 0);
#ifdef MPROC__ASAN
  /* The old stack is abandoned, not switched back to; but what its frames
   * point to stays reachable for LeakSanitizer (a target that calls exit()
   * runs the leak check on the new stack). */
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void *lo;
    size_t len;
    if (pthread_attr_getstack(&attr, &lo, &len) == 0) {
      char *here = (char *)&uc;
      char *end = (char *)lo + len;
      if (here > (char *)lo && here < end)
        __lsan_register_root_region(here, (size_t)(end - here));
    }
    pthread_attr_destroy(&attr);
  }
  __sanitizer_start_switch_fiber(NULL, base + page, size);
#endif
  setcontext(&uc);
  trampoline(); /* setcontext returns only on failure: run here */
}
#endif

void mproc__run_isolated(void (*main)(void *), void *arg) {
  /* A program without the C++ runtime has no exceptions to stop. */
  if (_ZSt13set_terminatePFvvE == NULL) {
    main(arg);
    mproc__child_exit(1);
  }
#ifdef MPROC__OUTERMOST
  /* No stack switch: the child's frames stay on the pages it already has
   * (a fresh stack cost ~6 page faults per child, ~10% of a start+join;
   * each page a child writes is a copy-on-write fault). */
  mproc__call_outermost(main, arg);
  mproc__child_exit(1);
#else
  run_on_fresh_stack(main, arg);
#endif
}
