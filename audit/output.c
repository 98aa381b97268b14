/*
 * output.c - routing-log entries as table, JSON Lines or CSV.
 */
#include "output.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "filter.h"

/* Rows held before the table is printed; a longer table is printed in
 * blocks of this many, each aligned on its own. */
#define TABLE_BLOCK 10000
#define NCOLS 9
#define MSG_HEX \
    ((size_t)2 * RK_MSGID_LEN) /* the message id in the table: whole, as status and receipt take it */

typedef struct row {
    char index[24];
    char time[32];
    char event[24];
    char from[RK_ID_MAX + 1];
    char to[RK_ID_MAX + 1];
    char type[RK_SECTION_MAX + 1]; /* or a catalogue event's section */
    char msg[MSG_HEX + 2];
    char outcome[48];
    char size[16];
} row_t;

struct audit_out {
    audit_format fmt;
    FILE *f;
    uint64_t count;
    bool header_done;
    row_t *rows;
    size_t n;
};

static const char *const table_head[NCOLS] = {"INDEX", "TIME", "EVENT", "FROM", "TO", "TYPE", "MSG", "OUTCOME", "SIZE"};

audit_out_t *audit_out_new(audit_format fmt, FILE *f)
{
    audit_out_t *o = calloc(1, sizeof *o);
    if (o == NULL)
        return NULL;
    o->fmt = fmt;
    o->f = f;
    if (fmt == AUDIT_FMT_TABLE && (o->rows = calloc(TABLE_BLOCK, sizeof *o->rows)) == NULL) {
        free(o);
        return NULL;
    }
    return o;
}

void audit_out_destroy(audit_out_t **op)
{
    if (op == NULL || *op == NULL)
        return;
    free((*op)->rows);
    free(*op);
    *op = NULL;
}

uint64_t audit_out_count(const audit_out_t *o) { return o->count; }

static const char *col(const row_t *r, int i)
{
    switch (i) {
    case 0: return r->index;
    case 1: return r->time;
    case 2: return r->event;
    case 3: return r->from;
    case 4: return r->to;
    case 5: return r->type;
    case 6: return r->msg;
    case 7: return r->outcome;
    default: return r->size;
    }
}

static const char *or_dash(const char *s) { return s[0] ? s : "-"; }

static int flush_table(audit_out_t *o)
{
    size_t w[NCOLS];
    for (int i = 0; i < NCOLS; i++) {
        w[i] = strlen(table_head[i]);
        for (size_t r = 0; r < o->n; r++) {
            size_t l = strlen(col(&o->rows[r], i));
            if (l > w[i])
                w[i] = l;
        }
    }
    for (size_t r = 0; r <= o->n; r++) {
        if (r == 0 && o->header_done)
            continue;
        for (int i = 0; i < NCOLS; i++) {
            const char *s = r == 0 ? table_head[i] : col(&o->rows[r - 1], i);
            bool right = i == 0 || i == NCOLS - 1; /* numbers */
            if (i == NCOLS - 1)
                fprintf(o->f, "%*s\n", (int)w[i], s);
            else if (right)
                fprintf(o->f, "%*s  ", (int)w[i], s);
            else
                fprintf(o->f, "%-*s  ", (int)w[i], s);
        }
        if (r == 0)
            o->header_done = true;
        if (r == 0 && o->n == 0)
            break;
    }
    /* the header is printed once; later blocks are aligned on their own */
    o->n = 0;
    return ferror(o->f) ? -1 : 0;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int table_entry(audit_out_t *o, uint64_t index, const rk_log_entry_t *e)
{
    row_t *r = &o->rows[o->n];
    char mid[2 * RK_MSGID_LEN + 1];

    snprintf(r->index, sizeof r->index, "%llu", (unsigned long long)index);
    audit_time_format((int64_t)e->time_ms, false, r->time);
    snprintf(r->event, sizeof r->event, "%s", rk_log_event_name(e->event));
    snprintf(r->from, sizeof r->from, "%s", or_dash(e->from));
    snprintf(r->to, sizeof r->to, "%s", or_dash(e->to));
    snprintf(r->type, sizeof r->type, "%s", or_dash(e->section[0] != '\0' ? e->section : e->type));
    if (e->has_msg_id) {
        hex(e->msg_id, RK_MSGID_LEN, mid);
        memcpy(r->msg, mid, MSG_HEX);
        r->msg[MSG_HEX] = '\0';
    } else {
        snprintf(r->msg, sizeof r->msg, "-");
    }
    if (e->count > 1) /* a summary of refused frames: how many */
        snprintf(r->outcome, sizeof r->outcome, "%s x%lu",
                 e->outcome == RK_ST_UNSPECIFIED ? "-" : rk_status_name(e->outcome), (unsigned long)e->count);
    else
        snprintf(r->outcome, sizeof r->outcome, "%s",
                 e->outcome == RK_ST_UNSPECIFIED ? "-" : rk_status_name(e->outcome));
    snprintf(r->size, sizeof r->size, "%lu", (unsigned long)e->size);
    if (++o->n == TABLE_BLOCK)
        return flush_table(o);
    return 0;
}

static int jsonl_entry(audit_out_t *o, uint64_t index, const rk_log_entry_t *e)
{
    char t[32], mid[2 * RK_MSGID_LEN + 1], rto[2 * RK_MSGID_LEN + 1], dig[2 * RK_DIGEST_LEN + 1];
    json_t *j;
    char *text;
    int rc;

    audit_time_format((int64_t)e->time_ms, true, t);
    if (e->has_msg_id)
        hex(e->msg_id, RK_MSGID_LEN, mid);
    if (e->has_reply_to)
        hex(e->reply_to, RK_MSGID_LEN, rto);
    if (e->has_digest)
        hex(e->digest, RK_DIGEST_LEN, dig);
    j = json_pack("{s:I, s:s, s:I, s:s, s:I, s:s, s:s, s:s, s:o, s:o, s:s, s:I, s:s, s:I, s:s, s:o, s:s}",
                  "index", (json_int_t)index, "time", t, "time_ms", (json_int_t)e->time_ms, "event",
                  rk_log_event_name(e->event), "seq", (json_int_t)e->seq, "from", e->from, "to", e->to,
                  "type", e->type, "msg_id", e->has_msg_id ? json_string(mid) : json_null(), "reply_to",
                  e->has_reply_to ? json_string(rto) : json_null(), "outcome",
                  e->outcome == RK_ST_UNSPECIFIED ? "" : rk_status_name(e->outcome), "size",
                  (json_int_t)e->size, "kind", e->kind, "count", (json_int_t)(e->count > 1 ? e->count : 1),
                  "section", e->section, "digest", e->has_digest ? json_string(dig) : json_null(), "operator",
                  e->operator_name);
    if (j == NULL)
        return -1;
    text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (text == NULL)
        return -1;
    rc = fprintf(o->f, "%s\n", text) < 0 ? -1 : 0;
    free(text);
    return rc;
}

/* Writes s as a CSV field, quoted if it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *s, bool last)
{
    if (strpbrk(s, ",\"\r\n") != NULL) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputs(last ? "\r\n" : ",", f);
}

static int csv_entry(audit_out_t *o, uint64_t index, const rk_log_entry_t *e)
{
    char t[32], num[24], mid[2 * RK_MSGID_LEN + 1] = "", rto[2 * RK_MSGID_LEN + 1] = "";
    char dig[2 * RK_DIGEST_LEN + 1] = "";

    if (!o->header_done) {
        fputs("index,time,time_ms,event,seq,from,to,type,msg_id,reply_to,outcome,size,kind,count,section,"
              "digest,operator\r\n",
              o->f);
        o->header_done = true;
    }
    if (e->has_msg_id)
        hex(e->msg_id, RK_MSGID_LEN, mid);
    if (e->has_reply_to)
        hex(e->reply_to, RK_MSGID_LEN, rto);
    snprintf(num, sizeof num, "%llu", (unsigned long long)index);
    csv_field(o->f, num, false);
    audit_time_format((int64_t)e->time_ms, true, t);
    csv_field(o->f, t, false);
    snprintf(num, sizeof num, "%llu", (unsigned long long)e->time_ms);
    csv_field(o->f, num, false);
    csv_field(o->f, rk_log_event_name(e->event), false);
    snprintf(num, sizeof num, "%llu", (unsigned long long)e->seq);
    csv_field(o->f, num, false);
    csv_field(o->f, e->from, false);
    csv_field(o->f, e->to, false);
    csv_field(o->f, e->type, false);
    csv_field(o->f, mid, false);
    csv_field(o->f, rto, false);
    csv_field(o->f, e->outcome == RK_ST_UNSPECIFIED ? "" : rk_status_name(e->outcome), false);
    snprintf(num, sizeof num, "%lu", (unsigned long)e->size);
    csv_field(o->f, num, false);
    csv_field(o->f, e->kind, false);
    snprintf(num, sizeof num, "%lu", (unsigned long)(e->count > 1 ? e->count : 1));
    csv_field(o->f, num, false);
    csv_field(o->f, e->section, false);
    if (e->has_digest)
        hex(e->digest, RK_DIGEST_LEN, dig);
    csv_field(o->f, dig, false);
    csv_field(o->f, e->operator_name, true);
    return ferror(o->f) ? -1 : 0;
}

int audit_out_entry(audit_out_t *o, uint64_t index, const rk_log_entry_t *e)
{
    int rc;
    switch (o->fmt) {
    case AUDIT_FMT_TABLE: rc = table_entry(o, index, e); break;
    case AUDIT_FMT_JSONL: rc = jsonl_entry(o, index, e); break;
    default: rc = csv_entry(o, index, e); break;
    }
    if (rc == 0)
        o->count++;
    return rc;
}

int audit_out_finish(audit_out_t *o)
{
    if (o->fmt == AUDIT_FMT_TABLE) {
        if (o->n > 0 || !o->header_done)
            if (flush_table(o) != 0)
                return -1;
    } else if (o->fmt == AUDIT_FMT_CSV && !o->header_done) {
        fputs("index,time,time_ms,event,seq,from,to,type,msg_id,reply_to,outcome,size,kind,count,section,"
              "digest,operator\r\n",
              o->f);
        o->header_done = true;
    }
    return fflush(o->f) != 0 || ferror(o->f) ? -1 : 0;
}
