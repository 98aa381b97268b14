/*
 * stats.h - summaries of repeated measurements for renkei-bench.
 *
 * A bench_series_t collects one value per repetition (or one latency sample
 * per request) and answers its median, minimum, maximum and percentiles.
 */
#ifndef RENKEI_BENCH_STATS_H
#define RENKEI_BENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct bench_series bench_series_t;

/* An empty series.  NULL if out of memory. */
bench_series_t *bench_series_new(void);
/* Frees *s and sets it to NULL.  Accepts NULL. */
void bench_series_destroy(bench_series_t **s);

/* Appends one value.  0 on success, -1 if out of memory (s unchanged). */
int bench_series_add(bench_series_t *s, double v) __attribute__((warn_unused_result));
/* Number of values held. */
size_t bench_series_count(const bench_series_t *s);
/* Forgets every value (keeps the memory). */
void bench_series_reset(bench_series_t *s);

/* The p-th percentile (0..100, nearest rank over the sorted values); 0 for
 * an empty series.  p = 50 is the median used in every table. */
double bench_series_pct(bench_series_t *s, double p);
double bench_series_min(const bench_series_t *s);
double bench_series_max(const bench_series_t *s);

#endif /* RENKEI_BENCH_STATS_H */
