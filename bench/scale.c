/*
 * scale.c - renkei-bench's large ID-code tables.
 */
#include "scale.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <sodium.h>

#include "keys.h"
#include "proc.h"
#include "store.h"

#define FILL_BATCH 10000

static void why_set(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || why_len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

int bench_scale_fill(const char *data_dir, const char *master_path, bench_load_t *l,
                     size_t persons_per_sender, double *elapsed_s, char *why, size_t why_len)
{
    size_t n_s = bench_load_senders(l), n_r = bench_load_recipients(l);
    size_t total = n_s * persons_per_sender, in_txn = 0;
    uint8_t *master = NULL, id_code[STORE_IDCODE_LEN], code[RK_CODE_LEN];
    store_t *st = NULL;
    store_txn_t *txn = NULL;
    store_err e = STORE_OK;
    double t0, shown;
    int rc = -1;

    if (rk_master_load(master_path, &master, why, why_len) != RK_KEYS_OK)
        return -1;
    t0 = shown = bench_now();
    /* Room for 10^7 persons and more: the map is sparse. */
    e = store_open(data_dir, master, (size_t)64 << 30, &st, why, why_len);
    if (e != STORE_OK)
        goto fail;
    for (size_t j = 0; j < total; j++) {
        size_t s = j % n_s, k = j / n_s;
        const char *from = bench_load_sender_name(l, s);
        if (txn == NULL && (e = store_begin(st, true, &txn)) != STORE_OK)
            goto fail_e;
        if ((e = store_person_new_id(txn, from, bench_load_codes(l, s) + k * RK_CODE_LEN,
                                     id_code)) != STORE_OK)
            goto fail_e;
        for (size_t r = 0; r < n_r; r++)
            if ((e = store_code_issue(txn, id_code, bench_load_recipient_name(l, r), code)) !=
                STORE_OK)
                goto fail_e;
        if (++in_txn == FILL_BATCH || j + 1 == total) {
            in_txn = 0;
            if ((e = store_commit(&txn)) != STORE_OK)
                goto fail_e;
            if (bench_now() - shown >= 30) { /* a 10^7 table takes a while: say how far */
                shown = bench_now();
                fprintf(stderr, "  table %zu: %zu persons loaded (%.0f %%), %.0f persons/s so far\n", total,
                        j + 1, 100.0 * (double)(j + 1) / (double)total, (double)(j + 1) / (shown - t0));
            }
        }
    }
    store_close(&st);
    *elapsed_s = bench_now() - t0;
    rc = 0;
    goto fail;
fail_e:
    why_set(why, why_len, "loading the ID-code table in %s failed: %s", data_dir,
            store_strerror(e));
fail:
    sodium_memzero(id_code, sizeof id_code);
    sodium_memzero(code, sizeof code);
    store_abort(&txn);
    store_close(&st);
    rk_master_destroy(&master);
    return rc;
}

/* Pages on the free list: each record of LMDB's free DB (dbi 0) is an ID
 * list whose first word is its length. */
static double free_pages(MDB_env *env)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    double n = 0;
    int rc;
    if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    if (mdb_cursor_open(txn, 0, &cur) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        size_t len;
        if (v.mv_size < sizeof len)
            continue;
        memcpy(&len, v.mv_data, sizeof len);
        n += (double)len;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc == MDB_NOTFOUND ? n : -1;
}

double bench_scale_disk_bytes(const char *data_dir, double *in_use)
{
    MDB_env *env = NULL;
    MDB_envinfo info;
    MDB_stat stat;
    double bytes = -1;
    if (in_use != NULL)
        *in_use = -1;
    if (mdb_env_create(&env) != 0)
        return -1;
    if (mdb_env_set_maxdbs(env, 64) == 0 && mdb_env_set_mapsize(env, (size_t)64 << 30) == 0 &&
        mdb_env_open(env, data_dir, MDB_RDONLY, 0600) == 0 && mdb_env_info(env, &info) == 0 &&
        mdb_env_stat(env, &stat) == 0) {
        double fp = free_pages(env);
        bytes = ((double)info.me_last_pgno + 1) * (double)stat.ms_psize;
        if (in_use != NULL && fp >= 0)
            *in_use = bytes - fp * (double)stat.ms_psize;
    }
    mdb_env_close(env);
    return bytes;
}

double bench_scale_rss_bytes(pid_t pid)
{
    char path[64], line[256];
    double kb = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}
