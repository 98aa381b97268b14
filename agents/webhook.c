/*
 * webhook.c - the HTTP back end behind `renkei-agent serve --webhook URL`
 * (webhook.h), over libcurl's multi interface.
 */
#include "webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define BODY_MAX ((size_t)RK_WHAT_CEILING) /* the most an answer may carry */
#define TOKEN_LINE_MAX 512
#define CONNECT_TIMEOUT_MAX_S 10

typedef struct webhook_be {
    handler_backend base; /* first: the pool sees this */
    CURLM *multi;         /* its connection cache keeps connections open */
    char *url;
    char *auth; /* "Authorization: Bearer TOKEN", or NULL */
    int timeout_s;
} webhook_be;

/* One request on its way. */
typedef struct call {
    CURL *easy;
    struct curl_slist *headers;
    char *resp;
    size_t resp_len, resp_cap;
    bool overflow;
} call;

bool webhook_url_valid(const char *url)
{
    const char *host;
    if (strncasecmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        host = url + 8;
    else
        return false;
    for (const char *c = url; *c != '\0'; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return false;
    return *host != '\0' && *host != '/';
}

static void call_free(webhook_be *w, call *c)
{
    if (c == NULL)
        return;
    if (c->easy != NULL) {
        curl_multi_remove_handle(w->multi, c->easy);
        curl_easy_cleanup(c->easy);
    }
    curl_slist_free_all(c->headers); /* Renkei-* values: ids, not personal data */
    if (c->resp != NULL) {
        sodium_memzero(c->resp, c->resp_cap);
        free(c->resp);
    }
    free(c);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    call *c = ctx;
    size_t n = size * nmemb;
    /* Too much (or no memory): read on, keep nothing; the attempt fails. */
    if (!c->overflow && !handler_append(&c->resp, &c->resp_len, &c->resp_cap, data, n, BODY_MAX))
        c->overflow = true;
    return n;
}

static bool add_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[512];
    struct curl_slist *more;
    snprintf(line, sizeof line, value[0] ? "%s: %s" : "%s:", name, value); /* "Expect:" drops it */
    if ((more = curl_slist_append(*list, line)) == NULL)
        return false;
    *list = more;
    return true;
}

static bool webhook_start(handler_backend *be, handler_job *j, char *why, size_t why_len)
{
    webhook_be *w = (webhook_be *)be;
    call *c = calloc(1, sizeof *c);
    long connect_s = w->timeout_s < CONNECT_TIMEOUT_MAX_S ? w->timeout_s : CONNECT_TIMEOUT_MAX_S;
    bool ok;

    if (c == NULL || (c->easy = curl_easy_init()) == NULL) {
        snprintf(why, why_len, "out of memory preparing the request");
        call_free(w, c);
        return false;
    }
    ok = add_header(&c->headers, "Content-Type", "application/json") &&
         add_header(&c->headers, "Accept", "application/json") && add_header(&c->headers, "Expect", "") &&
         add_header(&c->headers, "Renkei-Msg-Id", j->msg_hex) &&
         add_header(&c->headers, "Renkei-From", j->ev->from) &&
         add_header(&c->headers, "Renkei-Type", j->ev->type);
    if (ok && w->auth != NULL) {
        struct curl_slist *more = curl_slist_append(c->headers, w->auth);
        ok = more != NULL;
        if (ok)
            c->headers = more;
    }
    ok = ok && curl_easy_setopt(c->easy, CURLOPT_URL, w->url) == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_POST, 1L) == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, j->input) == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->in_len) == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers) == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "renkei-agent") == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)w->timeout_s * 1000L) == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, connect_s * 1000L) == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c) == CURLE_OK &&
         curl_easy_setopt(c->easy, CURLOPT_PRIVATE, j) == CURLE_OK;
    if (!ok) {
        snprintf(why, why_len, "the request could not be prepared (out of memory?)");
        call_free(w, c);
        return false;
    }
    if (curl_multi_add_handle(w->multi, c->easy) != CURLM_OK) {
        snprintf(why, why_len, "the request could not be started");
        call_free(w, c);
        return false;
    }
    j->att = c;
    return true;
}

/* What the answer (HTTP status, body) to j says: j->verdict, j->body
 * (malloc'd) or j->error.  Never quotes the body. */
static void verdict_of(handler_job *j, long status, call *c)
{
    json_error_t jerr;
    json_t *v, *val;
    size_t len = c->resp_len;

    j->verdict = HANDLER_FAIL;
    if (status == 202) {
        j->verdict = HANDLER_LATER;
        return;
    }
    if (status < 200 || status > 299) {
        snprintf(j->error, sizeof j->error, "the back office answered HTTP %ld", status);
        return;
    }
    if (c->overflow) {
        snprintf(j->error, sizeof j->error, "HTTP %ld with an answer longer than %zu bytes", status,
                 BODY_MAX);
        return;
    }
    while (len > 0 && (c->resp[len - 1] == '\n' || c->resp[len - 1] == '\r' || c->resp[len - 1] == ' ' ||
                       c->resp[len - 1] == '\t'))
        len--;
    if (len == 0) {
        j->verdict = HANDLER_DONE;
        return;
    }
    if ((v = json_loadb(c->resp, len, 0, &jerr)) == NULL || !json_is_object(v)) {
        snprintf(j->error, sizeof j->error, "HTTP %ld with an answer that is not a JSON object", status);
        json_decref(v);
        return;
    }
    if (json_object_size(v) == 0) {
        j->verdict = HANDLER_DONE;
    } else if (json_object_size(v) == 1 && (val = json_object_get(v, "reply")) != NULL) {
        j->body = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
        if (j->body != NULL) {
            j->body_len = strlen(j->body);
            j->verdict = HANDLER_REPLY;
        } else {
            snprintf(j->error, sizeof j->error, "out of memory reading the answer");
        }
    } else if (json_object_size(v) == 1 && (val = json_object_get(v, "refuse")) != NULL &&
               json_is_string(val)) {
        j->body = strdup(json_string_value(val));
        if (j->body != NULL) {
            j->body_len = strlen(j->body);
            j->verdict = HANDLER_REFUSE;
        } else {
            snprintf(j->error, sizeof j->error, "out of memory reading the answer");
        }
    } else {
        snprintf(j->error, sizeof j->error,
                 "HTTP %ld with JSON that is neither {}, {\"reply\": ...} nor {\"refuse\": \"...\"}", status);
    }
    json_decref(v);
}

/* Marks the requests that ended. */
static void collect(webhook_be *w)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left)) != NULL) {
        handler_job *j = NULL;
        call *c;
        long status = 0;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        if (j == NULL || (c = j->att) == NULL)
            continue;
        if (m->data.result == CURLE_OK) {
            curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
            verdict_of(j, status, c);
        } else if (m->data.result == CURLE_OPERATION_TIMEDOUT) {
            j->verdict = HANDLER_FAIL;
            snprintf(j->error, sizeof j->error, "no answer within %d s", w->timeout_s);
        } else {
            j->verdict = HANDLER_FAIL;
            snprintf(j->error, sizeof j->error, "no answer: %s", curl_easy_strerror(m->data.result));
        }
        call_free(w, c);
        j->att = NULL;
        j->ended = true;
    }
}

static void webhook_wait(handler_backend *be, handler_job **jobs, size_t n, int wait_ms)
{
    webhook_be *w = (webhook_be *)be;
    int still = 0;
    bool ended = false;
    (void)curl_multi_perform(w->multi, &still);
    collect(w);
    for (size_t i = 0; i < n; i++)
        ended |= jobs[i]->ended;
    if (ended || wait_ms <= 0)
        return;
    (void)curl_multi_poll(w->multi, NULL, 0, wait_ms, NULL);
    (void)curl_multi_perform(w->multi, &still);
    collect(w);
}

static void webhook_free(handler_backend *be, handler_job **jobs, size_t n)
{
    webhook_be *w = (webhook_be *)be;
    for (size_t i = 0; i < n; i++) {
        call_free(w, jobs[i]->att);
        jobs[i]->att = NULL;
    }
    if (w->multi != NULL)
        curl_multi_cleanup(w->multi);
    free(w->url);
    if (w->auth != NULL) {
        sodium_memzero(w->auth, strlen(w->auth));
        free(w->auth);
    }
    free(w);
    curl_global_cleanup();
}

/* "Authorization: Bearer " and the token file's one line. */
static char *read_auth(const char *path, char *why, size_t why_len)
{
    static const char prefix[] = "Authorization: Bearer ";
    char line[TOKEN_LINE_MAX + 2], *auth = NULL;
    struct stat st;
    size_t len;
    FILE *f = fopen(path, "re");

    if (f == NULL) {
        snprintf(why, why_len, "cannot open the webhook token file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        snprintf(why, why_len,
                 "the webhook token file %s may be read by users other than its owner (mode %04o): "
                 "chmod 600 it",
                 path, (unsigned)(st.st_mode & 07777));
        fclose(f);
        return NULL;
    }
    len = fgets(line, sizeof line, f) != NULL ? strcspn(line, "\r\n") : 0;
    fclose(f);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x21 || (unsigned char)line[i] > 0x7e)
            len = 0;
    if (len == 0 || len > TOKEN_LINE_MAX) {
        snprintf(why, why_len,
                 "the webhook token file %s must hold one token (1 to %d printable characters, "
                 "no spaces) on one line",
                 path, TOKEN_LINE_MAX);
    } else if ((auth = malloc(sizeof prefix + len)) != NULL) {
        memcpy(auth, prefix, sizeof prefix - 1);
        memcpy(auth + sizeof prefix - 1, line, len);
        auth[sizeof prefix - 1 + len] = '\0';
    } else {
        snprintf(why, why_len, "out of memory");
    }
    sodium_memzero(line, sizeof line);
    return auth;
}

handler_backend *webhook_backend_new(const webhook_cfg *cfg, char *why, size_t why_len)
{
    webhook_be *w;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(why, why_len, "libcurl could not be initialized");
        return NULL;
    }
    if ((w = calloc(1, sizeof *w)) == NULL) {
        curl_global_cleanup();
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    w->base.name = "the webhook";
    w->base.start = webhook_start;
    w->base.wait = webhook_wait;
    w->base.free = webhook_free;
    w->timeout_s = cfg->timeout_s >= 1 ? cfg->timeout_s : WEBHOOK_TIMEOUT_DEFAULT_S;
    if ((w->url = strdup(cfg->url)) == NULL || (w->multi = curl_multi_init()) == NULL) {
        snprintf(why, why_len, "out of memory");
        webhook_free(&w->base, NULL, 0);
        return NULL;
    }
    if (cfg->token_file != NULL && (w->auth = read_auth(cfg->token_file, why, why_len)) == NULL) {
        webhook_free(&w->base, NULL, 0);
        return NULL;
    }
    /* Keep one connection open per request that may run at once. */
    (void)curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)(cfg->parallel > 0 ? cfg->parallel : 1));
    return &w->base;
}
