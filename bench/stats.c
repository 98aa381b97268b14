/*
 * stats.c - summaries of repeated measurements for renkei-bench.
 */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

struct bench_series {
    double *v;
    size_t n, cap;
    bool sorted;
};

bench_series_t *bench_series_new(void) { return calloc(1, sizeof(bench_series_t)); }

void bench_series_destroy(bench_series_t **s)
{
    if (s == NULL || *s == NULL)
        return;
    free((*s)->v);
    free(*s);
    *s = NULL;
}

int bench_series_add(bench_series_t *s, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        double *nv = realloc(s->v, cap * sizeof *nv);
        if (nv == NULL)
            return -1;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    s->sorted = false;
    return 0;
}

size_t bench_series_count(const bench_series_t *s) { return s->n; }

void bench_series_reset(bench_series_t *s)
{
    s->n = 0;
    s->sorted = true;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

double bench_series_pct(bench_series_t *s, double p)
{
    size_t rank;
    if (s->n == 0)
        return 0;
    if (!s->sorted) {
        qsort(s->v, s->n, sizeof *s->v, cmp_double);
        s->sorted = true;
    }
    if (p <= 0)
        return s->v[0];
    if (p == 50 && s->n % 2 == 0)
        return (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
    rank = (size_t)ceil(p / 100.0 * (double)s->n);
    if (rank < 1)
        rank = 1;
    if (rank > s->n)
        rank = s->n;
    return s->v[rank - 1];
}

double bench_series_min(const bench_series_t *s)
{
    double m;
    if (s->n == 0)
        return 0;
    m = s->v[0];
    for (size_t i = 1; i < s->n; i++)
        if (s->v[i] < m)
            m = s->v[i];
    return m;
}

double bench_series_max(const bench_series_t *s)
{
    double m;
    if (s->n == 0)
        return 0;
    m = s->v[0];
    for (size_t i = 1; i < s->n; i++)
        if (s->v[i] > m)
            m = s->v[i];
    return m;
}
