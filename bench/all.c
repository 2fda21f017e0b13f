/* The one benchmark: every workload of issue 8, each next to its reference
 * measured in the same run (raw C, Python 3's multiprocessing with the fork
 * start method, xargs + sha256sum), medians of interleaved rounds, one
 * table.
 *
 *   bazel run -c opt //bench:all -- [--rounds R] [--quick]
 *       [--only pool,process,payload,skew,psha,ipc,many,start] [--no-python]
 *
 * It is a measurement, never a test: nothing here fails on a missed goal.
 * Figures on a shared VM move by 10-30 % from run to run; the ratios,
 * taken within one run from interleaved rounds, are steadier.
 */
#include "bench/all.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

typedef struct {
  char workload[80], figure[32], reference[32], goal[64];
  double ratio;
  int met;
} row_t;

static row_t rows[64];
static size_t nrows;
static char notes[16][256];
static size_t nnotes;

void bench_row(const char *workload, const char *figure, const char *reference,
               double ratio, const char *goal, int met) {
  if (nrows == sizeof rows / sizeof rows[0]) return;
  row_t *r = &rows[nrows++];
  snprintf(r->workload, sizeof r->workload, "%s", workload);
  snprintf(r->figure, sizeof r->figure, "%s", figure);
  snprintf(r->reference, sizeof r->reference, "%s", reference);
  snprintf(r->goal, sizeof r->goal, "%s", goal);
  r->ratio = ratio;
  r->met = met;
  /* Each row as it is measured, for long runs. */
  fprintf(stderr, "  %-52s %13s %14s\n", workload, figure, reference);
}

void bench_note(const char *fmt, ...) {
  if (nnotes == sizeof notes / sizeof notes[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(notes[nnotes++], sizeof notes[0], fmt, ap);
  va_end(ap);
}

double bench_median(const double *v, size_t n) {
  double copy[64];
  if (n == 0) return NAN;
  if (n > 64) n = 64;
  memcpy(copy, v, n * sizeof *v);
  samples_t s = {copy, n, n};
  return stats_of(&s).median;
}

const char *bench_fmt(const char *fmt, ...) {
  static char ring[32][32];
  static unsigned next;
  char *b = ring[next++ % 32];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, sizeof ring[0], fmt, ap);
  va_end(ap);
  /* A figure that could not be measured (NAN) prints as "-". */
  if (strncmp(b, "nan", 3) == 0 || strncmp(b, "-nan", 4) == 0)
    snprintf(b, sizeof ring[0], "-");
  return b;
}

double bench_py(const bench_opts_t *o, const char *mode, unsigned workers,
                const char *arg, double *median_us) {
  if (median_us != NULL) *median_us = NAN;
  if (o->py == NULL) return NAN;
  char w[16];
  snprintf(w, sizeof w, "%u", workers);
  char *argv[] = {(char *)BENCH_PYTHON, (char *)o->py, (char *)mode, w,
                  (char *)arg, NULL};
  fflush(NULL);
  char *text = bench_run_capture(argv);
  double s = bench_field(text, "seconds");
  if (median_us != NULL) *median_us = bench_field(text, "median_us");
  free(text);
  if (isnan(s)) bench_die(mode, "all.py printed no seconds=");
  return s;
}

/* A group runs in a fresh process of its own (this program again, with
 * --group): what one group leaves behind (a heap grown by 100,000 futures
 * makes every later fork slower) must not weigh on the next, and Python
 * starts fresh for each of its runs too. The group prints its rows as
 * tab-separated lines; this process collects them. */
static void run_group(const bench_opts_t *o, const char *name) {
  char rounds[16];
  snprintf(rounds, sizeof rounds, "%zu", o->rounds);
  char *argv[12];
  int n = 0;
  argv[n++] = (char *)"/proc/self/exe";
  argv[n++] = (char *)"--group";
  argv[n++] = (char *)name;
  argv[n++] = (char *)"--rounds";
  argv[n++] = rounds;
  if (o->quick) argv[n++] = (char *)"--quick";
  if (o->py == NULL) argv[n++] = (char *)"--no-python";
  argv[n] = NULL;
  char *text = bench_run_capture(argv);
  for (char *save, *line = strtok_r(text, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    char *f[8];
    int k = 0;
    for (char *s2, *t = strtok_r(line, "\t", &s2); t != NULL && k < 8;
         t = strtok_r(NULL, "\t", &s2))
      f[k++] = t;
    if (k == 7 && strcmp(f[0], "ROW") == 0) {
      row_t *r = nrows < sizeof rows / sizeof rows[0] ? &rows[nrows++] : NULL;
      if (r == NULL) continue;
      snprintf(r->workload, sizeof r->workload, "%s", f[1]);
      snprintf(r->figure, sizeof r->figure, "%s", f[2]);
      snprintf(r->reference, sizeof r->reference, "%s", f[3]);
      r->ratio = strcmp(f[4], "-") == 0 ? NAN : atof(f[4]);
      snprintf(r->goal, sizeof r->goal, "%s", f[5]);
      r->met = atoi(f[6]);
    } else if (k == 2 && strcmp(f[0], "NOTE") == 0) {
      bench_note("%s", f[1]);
    }
  }
  free(text);
}

static size_t parse_count(const char *flag, const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (s[0] == '-' || *end != '\0' || errno != 0 || v == 0 || v > 64)
    bench_die(flag, "expects a count from 1 to 64");
  return (size_t)v;
}

static void usage(void) {
  fprintf(stderr,
          "usage: all [--rounds R] [--quick] [--no-python]\n"
          "           [--only pool,process,payload,skew,psha,ipc,many,start]\n");
  exit(2);
}

int main(int argc, char **argv) {
  bench_opts_t o;
  memset(&o, 0, sizeof o);
  o.argv0 = argv[0];
  o.rounds = 3;
  bool no_python = false;
  const char *only = NULL, *group = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      o.rounds = parse_count(argv[i], argv[i + 1]);
      i++;
    } else if (strcmp(argv[i], "--quick") == 0) {
      o.quick = true;
    } else if (strcmp(argv[i], "--no-python") == 0) {
      no_python = true;
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else if (strcmp(argv[i], "--group") == 0 && i + 1 < argc) {
      group = argv[++i];
    } else {
      usage();
    }
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  o.workers = ncpu > 0 ? (unsigned)ncpu : 1;
  if (no_python)
    o.py_why = "--no-python";
  else if (access(BENCH_PYTHON, X_OK) != 0)
    o.py_why = BENCH_PYTHON " not found";
  else if ((o.py = bench_runfile(argv[0], "bench/all.py")) == NULL)
    o.py_why = "bench/all.py not found";

  struct {
    const char *name;
    void (*run)(const bench_opts_t *);
  } groups[] = {{"pool", bench_group_pool},
                {"process", bench_group_process},
                {"payload", bench_group_payload},
                {"skew", bench_group_skew},
                {"psha", bench_group_psha},
                {"ipc", bench_group_ipc},
                {"many", bench_group_many},
                {"start", bench_group_start}};
  size_t ngroups = sizeof groups / sizeof groups[0];

  if (group != NULL) {
    /* 1,000 children hold two descriptors each. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    size_t g = 0;
    while (g < ngroups && strcmp(groups[g].name, group) != 0) g++;
    if (g == ngroups) usage();
    groups[g].run(&o);
    for (size_t i = 0; i < nrows; i++) {
      const row_t *r = &rows[i];
      printf("ROW\t%s\t%s\t%s\t%s\t%s\t%d\n", r->workload, r->figure,
             r->reference, bench_fmt("%.4f", r->ratio), r->goal, r->met);
    }
    for (size_t i = 0; i < nnotes; i++) printf("NOTE\t%s\n", notes[i]);
    return 0;
  }

  struct utsname u;
  uname(&u);
  printf("multiproc benchmark (issue 8)\n");
  printf("machine : %ld cores, %s %s %s\n", ncpu, u.sysname, u.release,
         u.machine);
  printf("command : bazel run -c opt //bench:all --");
  for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
  printf("\nsettings: rounds=%zu%s, pool workers=%u (2 for the skewed "
         "batches), medians of interleaved rounds; each group of rows in a "
         "fresh process\n",
         o.rounds, o.quick ? " (--quick: small sizes, figures are not "
                             "comparable)" : "",
         o.workers);
  if (o.py != NULL)
    printf("python  : %s (multiprocessing, fork start method)\n",
           BENCH_PYTHON);
  else
    printf("python  : skipped (%s): Python columns are empty\n", o.py_why);
  fflush(stdout);

  uint64_t t0 = bench_now_ns();
  for (size_t g = 0; g < ngroups; g++) {
    if (only != NULL) {
      char list[256];
      snprintf(list, sizeof list, ",%s,", only);
      char want[32];
      snprintf(want, sizeof want, ",%s,", groups[g].name);
      if (strstr(list, want) == NULL) continue;
    }
    fprintf(stderr, "[%s]\n", groups[g].name);
    run_group(&o, groups[g].name);
  }
  double total = (double)(bench_now_ns() - t0) / 1e9;

  printf("\n%-52s %13s %14s %6s  %-18s %s\n", "workload", "figure",
         "reference", "ratio", "goal", "met");
  unsigned met = 0, judged = 0;
  for (size_t i = 0; i < nrows; i++) {
    const row_t *r = &rows[i];
    printf("%-52s %13s %14s %6s  %-18s %s\n", r->workload, r->figure,
           r->reference, bench_fmt("%.2f", r->ratio), r->goal,
           r->met < 0 ? "-" : r->met ? "yes" : "NO");
    if (r->met >= 0) {
      judged++;
      met += r->met == 1;
    }
  }
  printf("\ngoals met: %u of %u; measured in %.0f s\n", met, judged, total);
  for (size_t i = 0; i < nnotes; i++) printf("note: %s\n", notes[i]);
  return 0;
}
