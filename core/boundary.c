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

static void on_terminate(void) {
  char what[MPROC__ESCAPE_TEXT_MAX];
  mproc__describe_exception(what, sizeof what);
  if (escape_fn != NULL) escape_fn(what, escape_ctx);
  abort();
}

/* ---- The fresh stack. */

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

/* A stack with a guard page below it (an overflow faults instead of
 * writing into whatever is mapped there), or NULL. */
static char *map_stack(size_t size, size_t page) {
  char *base = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                    -1, 0);
  if (base == MAP_FAILED) return NULL;
  mprotect(base, page, PROT_NONE);
  return base;
}

/* The stack a child switches to is mapped once, by the process that forks
 * (mproc__boundary_prepare), not by every child: the child inherits the
 * untouched mapping and pays only for the pages it touches. A process
 * running on it (a child) must not hand it to its own children — they
 * would switch onto the frames it runs on — so they map their own. */
static char *prepared;
static size_t prepared_size;
static bool on_prepared;

void mproc__boundary_prepare(void) {
  if (prepared != NULL || on_prepared) return;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t size = stack_size();
  prepared = map_stack(size, page);
  if (prepared != NULL) prepared_size = size;
}

#if defined(__x86_64__) && !defined(MPROC__TSAN)
/* Onto the new stack without ucontext: setcontext and getcontext each make
 * a sigprocmask system call. The return address pushed is 0, which ends
 * every unwinding there, as glibc's own thread start does. */
__attribute__((noreturn)) static void switch_to(char *top) {
  __asm__ volatile(
      "mov %0, %%rsp\n\t"
      "xor %%ebp, %%ebp\n\t"
      "push $0\n\t"
      "jmp *%1\n\t"
      :
      : "r"(top), "r"(trampoline)
      : "memory");
  __builtin_unreachable();
}
#define MPROC__ASM_SWITCH 1
#endif

void mproc__run_isolated(void (*main)(void *), void *arg) {
  if (_ZSt13set_terminatePFvvE != NULL) _ZSt13set_terminatePFvvE(on_terminate);
  entry.main = main;
  entry.arg = arg;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  char *base;
  size_t size;
  if (prepared != NULL && !on_prepared) {
    base = prepared;
    size = prepared_size;
  } else {
    size = stack_size();
    base = map_stack(size, page);
  }
  if (base == NULL) trampoline(); /* no isolation, but the child still runs */
  on_prepared = true;
#ifndef MPROC__ASM_SWITCH
  ucontext_t uc;
  if (getcontext(&uc) != 0) trampoline();
  uc.uc_stack.ss_sp = base + page;
  uc.uc_stack.ss_size = size;
  uc.uc_link = NULL; /* the bottom frame: nothing to return to */
  makecontext(&uc, trampoline, 0);
#endif
#ifdef MPROC__ASAN
  /* The old stack is abandoned, not switched back to; but what its frames
   * point to stays reachable for LeakSanitizer (a target that calls exit()
   * runs the leak check on the new stack). */
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void *lo;
    size_t len;
    if (pthread_attr_getstack(&attr, &lo, &len) == 0) {
      char *here = (char *)&page;
      char *end = (char *)lo + len;
      if (here > (char *)lo && here < end)
        __lsan_register_root_region(here, (size_t)(end - here));
    }
    pthread_attr_destroy(&attr);
  }
  __sanitizer_start_switch_fiber(NULL, base + page, size);
#endif
#ifdef MPROC__ASM_SWITCH
  switch_to((char *)((uintptr_t)(base + page + size) & ~(uintptr_t)15));
#else
  setcontext(&uc);
  trampoline(); /* setcontext returns only on failure: run here */
#endif
}
