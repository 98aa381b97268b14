/*
 * main.c - renkei-agent, an organization's command line to the Renkei hub.
 *
 * Exit codes: 0 ok, 1 error, 2 usage, 3 refused (by hub or recipient),
 * 4 timed out waiting, 5 pending (committed to the outbox, not yet accepted
 * by the hub; re-sent automatically), 6 receipt not verified in full (the
 * hub did not provide the entry), 7 the routing log does not prove it.
 * Messages on stderr never carry a person's number or a link code; stdout
 * carries what the command is asked to print.
 *
 * A person's number is never taken from the command line, which every user
 * of the machine can read (ps, /proc/PID/cmdline): it is read from standard
 * input or from --person-file FILE, and a number given as an argument is
 * refused (exit 2) without being repeated.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "cli.h"
#include "logline.h"
#include "harden.h"
#include "http.h"
#include "spool.h"
#include "renkei/agent.h"
#include "number.h"
#include "exec.h"
#include "gateway.h"
#include "handler.h"
#include "webhook.h"

#define PROG "renkei-agent"
#define EXIT_ERR RK_EXIT_ERROR
#define EXIT_USAGE RK_EXIT_USAGE
#define EXIT_REFUSED RK_EXIT_REFUSED
#define EXIT_TIMEOUT RK_EXIT_TIMEOUT
#define EXIT_PENDING RK_EXIT_PENDING
#define EXIT_UNVERIFIED RK_EXIT_UNVERIFIED
#define EXIT_PROOF RK_EXIT_PROOF
#define PAYLOAD_MAX ((size_t)RK_WHAT_CEILING)
#define MAP_SIZE_MIN ((size_t)256 << 10) /* below this not even an empty data directory fits */

extern char **environ;

static volatile sig_atomic_t stop_requested = 0;
static rk_harden_t harden; /* what rk_harden_process could do; serve says so */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct options {
    const char *hub;
    const char *hub_key;
    const char *key;
    const char *previous_key;
    const char *data;
    const char *log_origin;
    const char *map_size;  /* as given: checked by parse_size */
    const char *keep_days; /* as given: checked by parse_days */
    double timeout_s;
    const char *to;
    const char *type;
    const char *person_file; /* --person-file FILE ("-": standard input) */
    bool person_opt;         /* --person was given */
    bool person_in_argv;     /* --person=VALUE was given: refused */
    const char *person;      /* the number, once read (never from argv) */
    const char *new_person_file; /* rebind --new-person-file FILE */
    const char *new_person;      /* the corrected number, once read */
    rk_number_rule number_rule;  /* --number-rule: how a number read is checked */
    const char *code;
    const char *reply_to; /* --reply-to MSGID (32 hex digits) */
    const char *payload;
    bool no_wait;
    bool no_reply;
    bool all;
    const char *exec;
    int exec_timeout_s; /* --exec-timeout */
    int exec_parallel;  /* --exec-parallel */
    int exec_retries;   /* --exec-retries */
    const char *webhook;            /* serve --webhook URL */
    const char *webhook_token_file; /* --webhook-token-file FILE */
    int webhook_timeout_s;          /* --webhook-timeout */
    int webhook_parallel;           /* --webhook-parallel */
    int webhook_retries;            /* --webhook-retries */
    const char *msg;                /* retry --msg MSGID */
    bool all_dead;                  /* retry --all-dead */
    const char *from;   /* reply --from ORG */
    const char *to_msg; /* reply --to-msg MSGID */
    const char *refuse; /* reply --refuse REASON */
    long count;
    const char *out;
    size_t map_bytes; /* parsed --map-size; 0: the default */
    int days;         /* parsed --keep-days; 0: the default */
} options;

/* The agent's own log on stderr (common/logline.h): --log-level and
 * --log-format, a time on every line, a syslog priority when stderr is the
 * journal.  What send and serve report as their result (accepted:,
 * pending:, refused:) and usage errors stay plain lines. */
static int log_max = RK_LOG_NOTICE;
static rk_log_format log_format = RK_LOG_TEXT;
static bool log_journal;

static void log_at(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void log_at(int level, const char *fmt, va_list ap)
{
    if (level <= log_max)
        rk_log_vline(stderr, PROG, level, log_format, log_journal, fmt, ap);
}

static void err_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_at(RK_LOG_ERR, fmt, ap);
    va_end(ap);
}

static void warn_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_at(RK_LOG_WARNING, fmt, ap);
    va_end(ap);
}

static void note_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_at(RK_LOG_NOTICE, fmt, ap);
    va_end(ap);
}

/* The command whose --help a usage error points to, once known. */
static const char *usage_cmd;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs(PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (usage_cmd != NULL)
        fprintf(stderr, "\nTry 'renkei-agent %s --help' for more information.\n", usage_cmd);
    else
        fputs("\nTry 'renkei-agent --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

/* ------------------------------------------------------------------ the number */

/* A number given as an argument: refused, with how to give it instead, and
 * never repeated (on the command line every local user could read it; at
 * least it goes no further).  cmd is named only if it is a command that
 * takes a number: otherwise it may be the number itself (renkei-agent
 * --person NUMBER status). */
static int refuse_person_arg(const char *cmd)
{
    static const char *const takes[] = {"enroll", "bind",     "lookup",   "send",
                                        "status", "disclose", "unenroll", "rebind"};
    const char *known = NULL;

    for (size_t i = 0; i < sizeof takes / sizeof takes[0]; i++)
        if (strcmp(cmd, takes[i]) == 0)
            known = takes[i];
    fprintf(stderr, PROG ": %s%sthe resident's number is never given on the command line, where every user of "
                    "this machine can read it; nothing was done.  ", known ? known : "", known ? ": " : "");
    if (known == NULL)
        fputs("Pass it on standard input (renkei-agent lookup <<<\"$NUMBER\") or with --person-file FILE",
              stderr);
    else if (strcmp(known, "send") == 0)
        fputs("Give it with --person-file FILE (in bash: --person-file <(printf '%s\\n' \"$NUMBER\")), or give "
              "the payload with --payload FILE and the number on standard input with --person", stderr);
    else
        fprintf(stderr, "Pass it on standard input (renkei-agent %s%s <<<\"$NUMBER\") or with --person-file FILE",
                known, strcmp(known, "status") == 0 ? " --person" : strcmp(known, "bind") == 0 ? " CODE" : "");
    fputs("\nTry 'renkei-agent --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

/* Reads the resident's number from path ("-": standard input) into
 * out (NUL-terminated): one line, one trailing newline (or CR LF) dropped;
 * empty or too long is refused.  Under the rule "any", a NUL, whitespace
 * or a non-printable character is refused; under "mynumber" the number is
 * normalized to its 12 digits (number.h) and refused unless it has 12 with
 * a matching check digit.  Nothing is buffered outside out, which the
 * caller wipes after use.  A regular file others may read earns a warning. */
static int read_person(const char *path, rk_number_rule rule, char out[RK_PERSON_MAX + 1])
{
    bool from_stdin = strcmp(path, "-") == 0;
    const char *name = from_stdin ? "standard input" : path;
    char raw[RK_PERSON_MAX + 3]; /* the number, CR LF, and one byte to tell "too long" */
    size_t len = 0;
    bool tty;
    struct stat st;
    int fd, rc = EXIT_USAGE;

    if (from_stdin) {
        fd = STDIN_FILENO;
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            err_msg("cannot open the resident's number file %s: %s", path, strerror(errno));
            return EXIT_ERR;
        }
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
            warn_msg("%s holds a resident's number and users other than its owner may read it "
                     "(mode %04o); chmod 600 it, or pass the number on standard input",
                     path, (unsigned)(st.st_mode & 07777));
    }
    tty = isatty(fd) != 0;
    if (tty) {
        fputs(PROG ": the resident's number, then Enter: ", stderr);
        fflush(stderr);
    }
    while (len < sizeof raw) {
        ssize_t n = read(fd, raw + len, sizeof raw - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err_msg("cannot read the resident's number from %s: %s", name, strerror(errno));
            rc = EXIT_ERR;
            goto done;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (tty && raw[len - 1] == '\n')
            break; /* a terminal gives one line */
    }
    if (len > 0 && raw[len - 1] == '\n') {
        len--;
        if (len > 0 && raw[len - 1] == '\r')
            len--;
    }
    if (len == 0) {
        usage_error("the resident's number on %s is empty: give one number on one line", name);
        goto done;
    }
    if (len > RK_PERSON_MAX) {
        usage_error("the resident's number on %s is longer than %d characters (or more than one line)", name,
                    RK_PERSON_MAX);
        goto done;
    }
    if (rule == RK_NUMBER_MYNUMBER) {
        char why[256] = "";
        if (!rk_number_normalize(rule, raw, len, out, why, sizeof why)) {
            usage_error("the resident's number on %s is refused (nothing was done): %s", name, why);
            goto done;
        }
        rc = 0;
        goto done;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '\0') {
            usage_error("the resident's number on %s contains a NUL byte", name);
            goto done;
        }
        if (c == ' ' || (c >= '\t' && c <= '\r')) {
            usage_error("the resident's number on %s contains whitespace or a line break: give one number "
                        "on one line, nothing else", name);
            goto done;
        }
        if (c < 0x20 || c > 0x7e) {
            usage_error("the resident's number on %s must be printable ASCII characters", name);
            goto done;
        }
    }
    memcpy(out, raw, len);
    out[len] = '\0';
    rc = 0;
done:
    sodium_memzero(raw, sizeof raw);
    if (!from_stdin)
        close(fd);
    return rc;
}

static int timeout_ms(const options *o)
{
    return (int)(o->timeout_s * 1000.0 + 0.5);
}

static int exit_for(rk_agent_err err)
{
    switch (err) {
    case RK_AGENT_OK: return 0;
    case RK_AGENT_EREFUSED: return EXIT_REFUSED;
    case RK_AGENT_ETIMEOUT: return EXIT_TIMEOUT;
    case RK_AGENT_EPENDING: return EXIT_PENDING;
    case RK_AGENT_EUNVERIFIED: return EXIT_UNVERIFIED;
    case RK_AGENT_EPROOF: return EXIT_PROOF;
    default: return EXIT_ERR;
    }
}

static void print_refusal(const rk_result_t *r)
{
    char detail[RK_DETAIL_MAX + RK_ID_MAX + 40];
    if (r->detail[0] != '\0')
        snprintf(detail, sizeof detail, "%s", r->detail);
    else if (r->peer[0] != '\0')
        snprintf(detail, sizeof detail, "%s: %s", r->peer, rk_status_name(r->cause));
    else
        detail[0] = '\0';
    if (detail[0] != '\0')
        fprintf(stderr, "refused: %s: %s (%s)\n", rk_status_name(r->status), rk_status_text(r->status),
                detail);
    else
        fprintf(stderr, "refused: %s: %s\n", rk_status_name(r->status), rk_status_text(r->status));
    fflush(stderr);
}

static void on_notice(void *ctx, const char *text)
{
    (void)ctx;
    note_msg("%s", text);
}

/* Prints one JSON value as a compact line on stdout. */
static int print_json_line(json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        err_msg("out of memory formatting output");
        return EXIT_ERR;
    }
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    return 0;
}

static void hex16(const uint8_t in[16], char out[33])
{
    rk_code_to_text(in, out);
}

/* ------------------------------------------------------------------ opening */

typedef enum need { NEED_KEY = 1, NEED_HUB_KEY = 2, NEED_DATA = 4 } need;

static int check_needs(const options *o, const char *cmd, int needs)
{
    if ((needs & NEED_KEY) && o->key == NULL)
        return usage_error("%s needs this organization's secret key: give --key ORG.key or set RENKEI_KEY", cmd);
    if ((needs & NEED_HUB_KEY) && o->hub_key == NULL)
        return usage_error("%s needs the hub's public key: give --hub-key hub.pub or set RENKEI_HUB_KEY", cmd);
    if ((needs & NEED_DATA) && o->data == NULL)
        return usage_error("%s needs this agent's data directory: give --data DIR or set RENKEI_DATA", cmd);
    return 0;
}

static int open_agent(const options *o, bool offline, bool keys, bool receive, rk_agent_t **a)
{
    rk_agent_config cfg;
    char why[512] = "";
    rk_agent_err err;

    rk_agent_config_init(&cfg);
    cfg.endpoint = o->hub;
    /* Local commands need no keys: a broken key file must not stop them. */
    cfg.hub_pub = offline && !keys ? NULL : o->hub_key;
    cfg.key = offline && !keys ? NULL : o->key;
    cfg.previous_key = offline && !keys ? NULL : o->previous_key;
    cfg.data_dir = o->data;
    cfg.timeout_ms = timeout_ms(o);
    cfg.receive = receive;
    cfg.offline = offline;
    cfg.notice = on_notice;
    cfg.log_origin = o->log_origin;
    cfg.map_size = o->map_bytes;
    cfg.keep_days = o->days;
    err = rk_agent_open(&cfg, a, why, sizeof why);
    if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        return exit_for(err);
    }
    return 0;
}

/* ------------------------------------------------------------------ local commands */

static int cmd_lookup(const options *o, const char *person)
{
    rk_agent_t *a = NULL;
    uint8_t code[RK_CODE_LEN];
    char text[RK_CODE_TEXT_LEN + 1];
    char why[512] = "";
    rk_agent_err err;
    int rc;

    if ((rc = open_agent(o, true, false, false, &a)) != 0)
        return rc;
    err = rk_agent_lookup(a, person, code, why, sizeof why);
    rk_agent_close(&a);
    if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        return EXIT_ERR;
    }
    rk_code_to_text(code, text);
    printf("%s\n", text);
    fflush(stdout);
    sodium_memzero(code, sizeof code);
    return 0;
}

static int cmd_bind(const options *o, const char *person, const char *code_text)
{
    rk_agent_t *a = NULL;
    uint8_t code[RK_CODE_LEN];
    char why[512] = "";
    rk_agent_err err;
    int rc;

    if (!rk_code_from_text(code_text, code))
        return usage_error("bind: CODE must be a link code of exactly 32 hexadecimal digits");
    if ((rc = open_agent(o, true, false, false, &a)) != 0)
        return rc;
    err = rk_agent_bind(a, person, code, why, sizeof why);
    rk_agent_close(&a);
    sodium_memzero(code, sizeof code);
    if (err != RK_AGENT_OK) {
        err_msg("%s%s", why[0] ? why : rk_agent_strerror(err),
                err == RK_AGENT_ECONFLICT ? "; nothing was recorded" : "");
        return EXIT_ERR;
    }
    note_msg("recorded the link code for this person");
    return 0;
}

/* Withdraws the person's enrollment from the local table and prints the
 * link code that was removed (binding it again undoes this). */
static int cmd_unenroll(const options *o, const char *person)
{
    rk_agent_t *a = NULL;
    uint8_t code[RK_CODE_LEN];
    char text[RK_CODE_TEXT_LEN + 1];
    char why[512] = "";
    rk_agent_err err;
    int rc;

    if ((rc = open_agent(o, true, false, false, &a)) != 0)
        return rc;
    err = rk_agent_unbind(a, person, code, why, sizeof why);
    rk_agent_close(&a);
    if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        return EXIT_ERR;
    }
    rk_code_to_text(code, text);
    printf("%s\n", text);
    fflush(stdout);
    sodium_memzero(code, sizeof code);
    sodium_memzero(text, sizeof text);
    note_msg("removed this person's link code (printed) from the local table; the hub keeps it.  Enrolling "
             "this person again gets a new code; binding the printed code again undoes this");
    return 0;
}

/* Moves the link code of a mistyped number to the corrected one. */
static int cmd_rebind(const options *o, const char *old_person, const char *new_person)
{
    rk_agent_t *a = NULL;
    char why[512] = "";
    rk_agent_err err;
    int rc;

    if ((rc = open_agent(o, true, false, false, &a)) != 0)
        return rc;
    err = rk_agent_rebind(a, old_person, new_person, why, sizeof why);
    rk_agent_close(&a);
    if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        return EXIT_ERR;
    }
    note_msg("moved the link code to the corrected number; the old number has none now");
    return 0;
}

static int cmd_enroll(const options *o, const char *person)
{
    rk_agent_t *a = NULL;
    uint8_t code[RK_CODE_LEN];
    char text[RK_CODE_TEXT_LEN + 1];
    char why[512] = "";
    rk_result_t refusal;
    bool existed = false;
    rk_agent_err err;
    int rc;

    if ((rc = open_agent(o, true, true, false, &a)) != 0)
        return rc;
    err = rk_agent_lookup(a, person, code, why, sizeof why);
    if (err == RK_AGENT_ENOTFOUND) {
        if ((rc = check_needs(o, "enroll", NEED_KEY | NEED_HUB_KEY)) != 0) {
            rk_agent_close(&a);
            return rc;
        }
        err = rk_agent_connect(a, why, sizeof why);
        if (err == RK_AGENT_OK) {
            memset(&refusal, 0, sizeof refusal);
            err = rk_agent_enroll(a, person, code, &existed, &refusal, why, sizeof why);
            if (err == RK_AGENT_EREFUSED) {
                print_refusal(&refusal);
                rk_agent_close(&a);
                return EXIT_REFUSED;
            }
        }
    } else if (err == RK_AGENT_OK) {
        existed = true;
    }
    rk_agent_close(&a);
    if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        return exit_for(err);
    }
    if (existed)
        note_msg("this person is already enrolled; printing the link code on record");
    rk_code_to_text(code, text);
    printf("%s\n", text);
    fflush(stdout);
    sodium_memzero(code, sizeof code);
    return 0;
}

/* ------------------------------------------------------------------ payloads */

/* Reads all of fd (at most PAYLOAD_MAX bytes) into a new buffer. */
static int read_all(int fd, char **out, size_t *out_len, const char *name)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        err_msg("out of memory reading %s", name);
        return EXIT_ERR;
    }
    for (;;) {
        ssize_t n;
        if (len == cap) {
            char *bigger;
            if (cap > PAYLOAD_MAX) {
                free(buf);
                err_msg("%s is larger than any hub accepts (%zu bytes at most)", name, PAYLOAD_MAX);
                return EXIT_ERR;
            }
            bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                err_msg("out of memory reading %s", name);
                return EXIT_ERR;
            }
            buf = bigger;
            cap *= 2;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err_msg("cannot read %s: %s", name, strerror(errno));
            free(buf);
            return EXIT_ERR;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* Checks that buf holds one JSON value; trims trailing whitespace.  On
 * failure writes why (jansson's words, with the position). */
static bool json_valid(const char *buf, size_t *len, char *why, size_t why_len)
{
    json_error_t jerr;
    json_t *v;
    while (*len > 0 && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r' || buf[*len - 1] == ' ' ||
                        buf[*len - 1] == '\t'))
        (*len)--;
    if (*len == 0) {
        snprintf(why, why_len, "it is empty");
        return false;
    }
    v = json_loadb(buf, *len, JSON_DECODE_ANY, &jerr);
    if (v == NULL) {
        snprintf(why, why_len, "%s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
        return false;
    }
    json_decref(v);
    return true;
}

static int read_payload(const options *o, char **out, size_t *out_len)
{
    const char *name = o->payload == NULL || strcmp(o->payload, "-") == 0 ? NULL : o->payload;
    char why[300];
    int rc;

    if (name == NULL) {
        if ((rc = read_all(STDIN_FILENO, out, out_len, "the payload on stdin")) != 0)
            return rc;
    } else {
        int fd = open(name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            err_msg("cannot open the payload file %s: %s", name, strerror(errno));
            return EXIT_ERR;
        }
        rc = read_all(fd, out, out_len, name);
        close(fd);
        if (rc != 0)
            return rc;
    }
    if (!json_valid(*out, out_len, why, sizeof why)) {
        err_msg("the payload is not JSON, nothing was sent: %s", why);
        free(*out);
        *out = NULL;
        return EXIT_USAGE;
    }
    return 0;
}

/* ------------------------------------------------------------------ send */

static json_t *payload_json(const rk_event *ev)
{
    return json_loadb((const char *)ev->payload, ev->payload_len, JSON_DECODE_ANY, NULL);
}

static int print_reply(const rk_event *ev)
{
    char msg[33], reply_to[33], code[33];
    json_t *obj, *payload;
    int rc;

    payload = payload_json(ev);
    if (payload == NULL) {
        err_msg("the reply from %s does not carry JSON", ev->from);
        return EXIT_ERR;
    }
    hex16(ev->msg_id, msg);
    hex16(ev->reply_to, reply_to);
    hex16(ev->code, code);
    obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "from", ev->from, "to", ev->to, "type",
                    ev->type, "msg_id", msg, "reply_to", reply_to, "code", code, "payload", payload);
    sodium_memzero(code, sizeof code);
    if (obj == NULL) {
        err_msg("out of memory formatting the reply");
        return EXIT_ERR;
    }
    rc = print_json_line(obj);
    json_decref(obj);
    return rc;
}

static void print_pending(const uint8_t msg_id[RK_MSGID_LEN], const char *why)
{
    char hex[33];
    hex16(msg_id, hex);
    if (why != NULL && why[0] != '\0')
        err_msg("%s", why);
    fprintf(stderr, "pending: not yet accepted by the hub; kept in the outbox (msg %s) and re-sent "
                    "automatically\n", hex);
    fflush(stderr);
}

/* {"msg_id":..,"seq":N,"status":..} on stdout (--no-wait, --no-reply). */
static int print_send_status(const char *msg_hex, uint64_t seq, const char *status)
{
    json_t *obj = json_pack("{s:s, s:I, s:s}", "msg_id", msg_hex, "seq", (json_int_t)seq, "status", status);
    int rc;
    if (obj == NULL) {
        err_msg("out of memory formatting output");
        return EXIT_ERR;
    }
    rc = print_json_line(obj);
    json_decref(obj);
    return rc;
}

/* Opens the agent for sending: keys and the local store first, then the
 * hub.  A hub that cannot be reached is not fatal: the message is kept in
 * the outbox (sealed with the directory kept from the last connection). */
static int open_for_send(const options *o, bool receive, rk_agent_t **a)
{
    char why[512] = "";
    rk_agent_err err;
    int rc;

    if ((rc = open_agent(o, true, true, receive, a)) != 0)
        return rc;
    err = rk_agent_connect(*a, why, sizeof why);
    if (err == RK_AGENT_OK)
        return 0;
    /* Unreachable now (no answer, or the connection dropped during the
     * secure handshake: a hub going away looks the same as a wrong hub
     * key): the message is still committed to the outbox as pending. */
    if (err == RK_AGENT_ENOANSWER || err == RK_AGENT_ETIMEOUT || err == RK_AGENT_EHANDSHAKE) {
        err_msg("%s", why);
        return 0;
    }
    err_msg("%s", why[0] ? why : rk_agent_strerror(err));
    rk_agent_close(a);
    return exit_for(err);
}

static int cmd_send(const options *o)
{
    rk_agent_t *a = NULL;
    rk_outgoing m;
    rk_result_t result;
    rk_event *reply = NULL;
    uint8_t msg_id[RK_MSGID_LEN], code[RK_CODE_LEN], reply_to[RK_MSGID_LEN];
    char msg_hex[33], why[512] = "";
    char *payload = NULL;
    size_t payload_len = 0;
    bool waits;
    rk_agent_err err;
    int rc;

    memset(code, 0, sizeof code);
    if (o->to == NULL || o->type == NULL)
        return usage_error("send needs --to ORG and --type TYPE");
    if ((o->person == NULL) == (o->code == NULL))
        return usage_error("send needs exactly one of --person-file FILE (the resident's number) or --code HEX");
    if (o->no_wait && o->no_reply)
        return usage_error("give --no-wait or --no-reply, not both");
    if (!rk_valid_name(o->to))
        return usage_error("--to must be an organization id (lowercase letters, digits, '.', '_', '-')");
    if (!rk_valid_name(o->type))
        return usage_error("--type must be a procedure type such as utility.supply.stop");
    if (o->code != NULL && !rk_code_from_text(o->code, code))
        return usage_error("--code must be a link code of exactly 32 hexadecimal digits");
    if (o->reply_to != NULL && !rk_code_from_text(o->reply_to, reply_to))
        return usage_error("--reply-to must be a message id of exactly 32 hexadecimal digits");
    if ((rc = check_needs(o, "send", NEED_KEY | NEED_HUB_KEY | NEED_DATA)) != 0)
        return rc;
    if ((rc = read_payload(o, &payload, &payload_len)) != 0)
        return rc;
    waits = !o->no_wait && !o->no_reply;
    /* Waiting for the reply, this process is a receiver of the
     * organization: what arrives meanwhile goes into the shared inbox. */
    if ((rc = open_for_send(o, waits, &a)) != 0)
        goto done;

    memset(&m, 0, sizeof m);
    m.to = o->to;
    m.type = o->type;
    m.person = o->person;
    m.code = o->code ? code : NULL;
    m.reply_to = o->reply_to ? reply_to : NULL;
    m.payload = (const uint8_t *)payload;
    m.payload_len = payload_len;
    m.no_reply = o->no_reply;
    err = rk_agent_send(a, &m, msg_id, &result, why, sizeof why);
    hex16(msg_id, msg_hex);
    if (err == RK_AGENT_EREFUSED) {
        print_refusal(&result);
        rc = EXIT_REFUSED;
        goto done;
    }
    if (err == RK_AGENT_EPENDING) {
        print_pending(msg_id, why);
        rc = EXIT_PENDING;
        if (!waits)
            (void)print_send_status(msg_hex, 0, "PENDING");
        goto done;
    }
    if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        rc = exit_for(err);
        goto done;
    }
    fprintf(stderr, "accepted: seq %llu msg %s\n", (unsigned long long)result.seq, msg_hex);
    fflush(stderr);
    if (!waits) {
        rc = print_send_status(msg_hex, result.seq, "ACCEPTED");
        goto done;
    }
    err = rk_agent_wait_reply(a, msg_id, timeout_ms(o), &reply, why, sizeof why);
    if (err == RK_AGENT_ETIMEOUT) {
        err_msg("no reply to message %s from %s within %g s; the reply will be kept in the inbox "
                "(renkei-agent status %s follows the message)", msg_hex, o->to, o->timeout_s, msg_hex);
        rc = EXIT_TIMEOUT;
    } else if (err != RK_AGENT_OK) {
        err_msg("waiting for the reply failed: %s", why[0] ? why : rk_agent_strerror(err));
        rc = exit_for(err);
    } else if (reply->kind == RK_EVENT_RESULT) {
        print_refusal(&reply->result);
        rc = EXIT_REFUSED;
    } else if (reply->kind == RK_EVENT_REFUSED) {
        err_msg("refused the reply from %s: %s", reply->from, reply->detail);
        rc = EXIT_ERR;
    } else {
        rc = print_reply(reply);
        if (rk_agent_done(a, reply, why, sizeof why) != RK_AGENT_OK)
            err_msg("could not mark the reply done in the inbox: %s", why);
    }

done:
    rk_event_free(&reply);
    rk_agent_close(&a);
    sodium_memzero(code, sizeof code);
    if (payload != NULL) {
        sodium_memzero(payload, payload_len);
        free(payload);
    }
    return rc;
}

/* ------------------------------------------------------------------ status */

static void utc_text(uint64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    if (ms == 0 || gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "-");
}

static uint64_t state_since(const rk_msg_status *st)
{
    switch (st->state) {
    case RK_MSG_ACCEPTED: return st->accepted_ms;
    case RK_MSG_DELIVERED: return st->delivered_ms;
    case RK_MSG_ANSWERED: return st->answered_ms;
    case RK_MSG_REFUSED: return st->refused_ms;
    case RK_MSG_EXPIRED: return st->expired_ms;
    default: return st->created_ms;
    }
}

static void print_status_table(const rk_msg_status *list, size_t n)
{
    /* The whole id: its first 12 digits are only the millisecond it was
     * made in, which two messages can share. */
    printf("%-32s  %-20s  %-24s  %-9s  %s\n", "MSG", "TO", "TYPE", "STATE", "SINCE");
    for (size_t i = 0; i < n; i++) {
        char hex[33], since[32];
        hex16(list[i].msg_id, hex);
        utc_text(state_since(&list[i]), since);
        printf("%-32s  %-20s  %-24s  %-9s  %s%s\n", hex, list[i].to, list[i].type,
               rk_msg_state_name(list[i].state), since, list[i].is_reply ? "  (reply)" : "");
    }
    fflush(stdout);
}

static void print_status_detail(const rk_msg_status *st)
{
    char hex[33], t[32];
    hex16(st->msg_id, hex);
    printf("message  %s\n", hex);
    printf("to       %s\n", st->to);
    printf("type     %s\n", st->type);
    if (st->is_reply) {
        hex16(st->reply_to, hex);
        printf("replies  to message %s\n", hex);
    } else {
        printf("expects  %s\n", st->no_reply ? "no reply (complete once delivered)" : "a reply");
    }
    printf("state    %s%s\n", rk_msg_state_name(st->state), st->complete ? " (complete)" : "");
    printf("history (UTC)\n");
    utc_text(st->created_ms, t);
    printf("  %s  pending at this agent (sent %u time%s)\n", t, st->attempts, st->attempts == 1 ? "" : "s");
    if (st->state == RK_MSG_PENDING && st->status != RK_ST_UNSPECIFIED)
        printf("  %*s  last answer from the hub: %s: %s%s%s%s\n", 20, "", rk_status_name(st->status),
               rk_status_text(st->status), st->detail[0] ? " (" : "", st->detail, st->detail[0] ? ")" : "");
    if (st->accepted_ms != 0) {
        utc_text(st->accepted_ms, t);
        printf("  %s  accepted by the hub, seq %llu\n", t, (unsigned long long)st->seq);
    }
    if (st->delivered_ms != 0) {
        utc_text(st->delivered_ms, t);
        printf("  %s  delivered to %s\n", t, st->to);
    }
    if (st->answered_ms != 0) {
        utc_text(st->answered_ms, t);
        hex16(st->reply_msg_id, hex);
        printf("  %s  answered by reply %s\n", t, hex);
    }
    if (st->refused_ms != 0) {
        utc_text(st->refused_ms, t);
        printf("  %s  refused: %s: %s", t, rk_status_name(st->status), rk_status_text(st->status));
        if (st->status == RK_ST_REFUSED_BY_RECIPIENT && st->cause != RK_ST_UNSPECIFIED)
            printf(" (%s: %s%s%s)", st->peer[0] ? st->peer : st->to, rk_status_name(st->cause),
                   st->detail[0] ? ", " : "", st->detail);
        else if (st->detail[0] != '\0')
            printf(" (%s)", st->detail);
        printf("\n");
    }
    if (st->expired_ms != 0) {
        utc_text(st->expired_ms, t);
        printf("  %s  expired: not delivered within its time-to-live\n", t);
    }
    if (st->state == RK_MSG_PENDING && st->next_try_ms != 0) {
        utc_text(st->next_try_ms, t);
        printf("  %s  next try (while an agent of this data directory runs)\n", t);
    }
    fflush(stdout);
}

/* The inbox entries this organization's system did not take (serve --exec
 * / --webhook): retried, or DEAD.  Nothing about the person or payload. */
static int print_inbox_troubled(rk_agent_t *a)
{
    rk_inbox_status *list = NULL;
    size_t n = 0;
    char why[512] = "";
    rk_agent_err err = rk_agent_inbox_troubled(a, &list, &n, why, sizeof why);

    if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        return EXIT_ERR;
    }
    if (n > 0) {
        printf("\ninbox: requests not yet taken by this organization's system (serve --exec / --webhook)\n");
        printf("%-32s  %-20s  %-24s  %-7s  %8s  %-20s  %s\n", "MSG", "FROM", "TYPE", "STATE", "ATTEMPTS",
               "NEXT TRY", "LAST ERROR");
    }
    for (size_t i = 0; i < n; i++) {
        char hex[33], next[32];
        hex16(list[i].msg_id, hex);
        utc_text(list[i].next_try_ms, next);
        printf("%-32s  %-20s  %-24s  %-7s  %8u  %-20s  %s\n", hex, list[i].from, list[i].type,
               list[i].state == RK_IN_DEAD ? "DEAD" : "RETRY", list[i].attempts,
               list[i].state == RK_IN_DEAD ? "(renkei-agent retry)" : next, list[i].last_error);
    }
    fflush(stdout);
    free(list);
    return 0;
}

static int cmd_status(const options *o, const char *msg_arg)
{
    rk_agent_t *a = NULL;
    rk_msg_status *list = NULL;
    rk_status_filter f;
    uint8_t code[RK_CODE_LEN];
    char why[512] = "";
    size_t n = 0;
    rk_agent_err err;
    int rc;

    memset(&f, 0, sizeof f);
    if (msg_arg != NULL) {
        size_t len = strlen(msg_arg);
        if (len == 0 || len > 32 || strspn(msg_arg, "0123456789abcdef") != len)
            return usage_error("status: MSGID is the message id (hexadecimal, lowercase) or a prefix of it");
    }
    if ((rc = open_agent(o, true, false, false, &a)) != 0)
        return rc;
    if (o->person != NULL) {
        err = rk_agent_lookup(a, o->person, code, why, sizeof why);
        if (err != RK_AGENT_OK) {
            err_msg("%s", why[0] ? why : rk_agent_strerror(err));
            rk_agent_close(&a);
            return EXIT_ERR;
        }
        f.code = code;
    } else {
        f.open_only = !o->all && msg_arg == NULL;
    }
    err = rk_agent_status_list(a, &f, &list, &n, why, sizeof why);
    sodium_memzero(code, sizeof code);
    if (err != RK_AGENT_OK) {
        rk_agent_close(&a);
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        return EXIT_ERR;
    }
    if (msg_arg != NULL) {
        size_t hits = 0, at = 0;
        for (size_t i = 0; i < n; i++) {
            char hex[33];
            hex16(list[i].msg_id, hex);
            if (strncmp(hex, msg_arg, strlen(msg_arg)) == 0) {
                hits++;
                at = i;
            }
        }
        if (hits == 0) {
            err_msg("no message %s in this agent's outbox", msg_arg);
            rc = EXIT_ERR;
        } else if (hits > 1) {
            err_msg("%zu messages start with %s: give more digits", hits, msg_arg);
            rc = EXIT_USAGE;
        } else {
            print_status_detail(&list[at]);
        }
    } else {
        print_status_table(list, n);
        if (n == 0 && f.open_only)
            err_msg("no open messages (status --all lists every message)");
        if (o->person == NULL)
            rc = print_inbox_troubled(a);
    }
    rk_agent_close(&a);
    free(list);
    return rc;
}

/* ------------------------------------------------------------------ flush */

static int cmd_purge(const options *o)
{
    rk_agent_t *a = NULL;
    rk_purge_report rep;
    char why[512] = "";
    rk_agent_err err;
    json_t *obj;
    int rc;

    if ((rc = open_agent(o, true, false, false, &a)) != 0)
        return rc;
    err = rk_agent_purge(a, &rep, why, sizeof why);
    rk_agent_close(&a);
    if (err != RK_AGENT_OK) {
        err_msg("%s (deleted before that: %zu inbox, %zu outbox)", why[0] ? why : rk_agent_strerror(err),
                rep.inbox, rep.outbox);
        return exit_for(err);
    }
    obj = json_pack("{s:I, s:I, s:I}", "inbox", (json_int_t)rep.inbox, "outbox", (json_int_t)rep.outbox,
                    "keep_days", (json_int_t)(o->days ? o->days : RK_KEEP_DAYS_DEFAULT));
    if (obj == NULL) {
        err_msg("out of memory formatting output");
        return EXIT_ERR;
    }
    rc = print_json_line(obj);
    json_decref(obj);
    return rc;
}

static int cmd_flush(const options *o)
{
    rk_agent_t *a = NULL;
    rk_flush_report rep;
    char why[512] = "";
    rk_agent_err err;
    int rc;

    if ((rc = check_needs(o, "flush", NEED_KEY | NEED_HUB_KEY | NEED_DATA)) != 0)
        return rc;
    /* As a receiver: notices and deliveries waiting at the hub come in and
     * are committed to the shared data directory. */
    if ((rc = open_agent(o, true, true, true, &a)) != 0)
        return rc;
    err = rk_agent_connect(a, why, sizeof why);
    if (err != RK_AGENT_OK) {
        rk_msg_status *list = NULL;
        size_t n = 0, pending = 0;
        rk_status_filter f = {.open_only = true, .code = NULL};
        rk_agent_err lerr;
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        if (err != RK_AGENT_ENOANSWER && err != RK_AGENT_ETIMEOUT) {
            rk_agent_close(&a);
            return exit_for(err);
        }
        /* How many are pending is what this exit reports: a list the outbox
         * cannot give is an error, not zero. */
        lerr = rk_agent_status_list(a, &f, &list, &n, why, sizeof why);
        rk_agent_close(&a);
        if (lerr != RK_AGENT_OK) {
            err_msg("%s", why[0] ? why : rk_agent_strerror(lerr));
            return exit_for(lerr);
        }
        for (size_t i = 0; i < n; i++)
            pending += list[i].state == RK_MSG_PENDING;
        free(list);
        printf("pending: %zu message%s not yet accepted by the hub; kept in the outbox\n", pending,
               pending == 1 ? "" : "s");
        fflush(stdout);
        return pending > 0 ? EXIT_PENDING : 0;
    }
    err = rk_agent_flush(a, timeout_ms(o), &rep, why, sizeof why);
    rk_agent_close(&a);
    if (err != RK_AGENT_OK && err != RK_AGENT_ETIMEOUT) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        return exit_for(err);
    }
    if (err == RK_AGENT_ETIMEOUT)
        err_msg("%s", why);
    printf("flushed: %zu re-sent, %zu accepted, %zu refused, %zu still pending\n", rep.sent, rep.accepted,
           rep.refused, rep.pending);
    fflush(stdout);
    if (rep.refused > 0)
        warn_msg("refused messages: renkei-agent status --all shows them, status MSGID says why");
    if (rep.pending > 0)
        return EXIT_PENDING;
    return rep.refused > 0 ? EXIT_REFUSED : 0;
}

/* ------------------------------------------------------------------ serve */

/* Refuses a delivered message whose payload is not JSON: not dropped, the
 * sender is told why. */
static bool refuse_not_json(rk_agent_t *a, const rk_event *ev, const char *msg_hex)
{
    char why[256] = "";
    if (rk_agent_refuse(a, ev, RK_ST_MALFORMED, "the payload is not JSON", why, sizeof why) == RK_AGENT_OK) {
        err_msg("refused message %s from %s: its payload is not JSON (the sender is told "
                "REFUSED_BY_RECIPIENT, MALFORMED)",
                msg_hex, ev->from);
        return true;
    }
    err_msg("message %s from %s does not carry JSON, and refusing it failed: %s", msg_hex, ev->from, why);
    return false;
}

/* Hands a delivered request to the --exec / --webhook pool, which owns ev
 * from now on (*ev NULL).  A payload that is not JSON is refused
 * (MALFORMED), as handle_message refuses it: the system never sees it. */
static void hand_request(handler_pool_t *pool, rk_agent_t *a, rk_event **evp)
{
    rk_event *ev = *evp;
    char msg_hex[33];
    bool not_json = false;
    json_t *obj = rk_gw_delivery_json(ev, true, &not_json);
    char *text;

    hex16(ev->msg_id, msg_hex);
    if (obj == NULL) {
        if (not_json) {
            (void)refuse_not_json(a, ev, msg_hex);
        } else {
            err_msg("out of memory formatting message %s from %s", msg_hex, ev->from);
        }
        return;
    }
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text == NULL) {
        err_msg("out of memory preparing message %s from %s; it stays claimed in the inbox", msg_hex,
                ev->from);
        return;
    }
    *evp = NULL;
    if (!handler_pool_add(pool, ev, text))
        err_msg("out of memory holding message %s; it stays claimed in the inbox", msg_hex);
}

/* Handles one delivered message; false if it could not even be shown. */
static bool handle_message(rk_agent_t *a, const rk_event *ev)
{
    char msg_hex[33];
    bool not_json = false;
    json_t *obj = rk_gw_delivery_json(ev, true, &not_json);
    char *text;

    hex16(ev->msg_id, msg_hex);
    if (obj == NULL) {
        if (not_json) {
            (void)refuse_not_json(a, ev, msg_hex);
        } else {
            err_msg("out of memory formatting message %s from %s", msg_hex, ev->from);
        }
        return false;
    }
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text == NULL) {
        err_msg("out of memory formatting message %s from %s", msg_hex, ev->from);
        return false;
    }
    {
        char why[256] = "";
        printf("%s\n", text);
        if (fflush(stdout) != 0 || ferror(stdout))
            err_msg("could not print message %s from %s; it stays in the inbox", msg_hex, ev->from);
        else if (rk_agent_done(a, ev, why, sizeof why) != RK_AGENT_OK)
            err_msg("could not mark message %s done: %s", msg_hex, why);
    }
    sodium_memzero(text, strlen(text));
    free(text);
    return true;
}

#define SERVE_BATCH_MAX 64 /* most requests claimed in one commit (the pool's room is less) */

/* Serves one event of recv (the pool may take ev: *evp NULL then); 1 if it
 * counts for --count. */
static long serve_event(handler_pool_t *pool, rk_agent_t *a, rk_event **evp)
{
    rk_event *ev = *evp;
    if (ev->kind == RK_EVENT_MESSAGE) {
        if (pool != NULL && !ev->has_reply_to)
            hand_request(pool, a, evp);
        else
            (void)handle_message(a, ev);
        return 1;
    }
    if (ev->kind == RK_EVENT_REFUSED) {
        err_msg("refused a message from %s: %s: %s", ev->from[0] ? ev->from : "an unknown sender",
                rk_status_name(ev->result.status), ev->detail);
    } else {
        char hex[33];
        hex16(ev->result.msg_id, hex);
        note_msg("message %s: %s: %s%s%s%s", hex, rk_status_name(ev->result.status),
                 rk_status_text(ev->result.status), ev->result.detail[0] ? " (" : "", ev->result.detail,
                 ev->result.detail[0] ? ")" : "");
    }
    return 0;
}

static int cmd_serve(const options *o)
{
    rk_agent_t *a = NULL;
    handler_pool_t *pool = NULL;
    long handled = 0;
    int rc;

    if ((rc = check_needs(o, "serve", NEED_KEY | NEED_HUB_KEY | NEED_DATA)) != 0)
        return rc;
    if (o->exec != NULL || o->webhook != NULL) {
        handler_cfg cfg = {.parallel = o->exec != NULL ? o->exec_parallel : o->webhook_parallel,
                           .retries = o->exec != NULL ? o->exec_retries : o->webhook_retries,
                           .log = log_at};
        handler_backend *be;
        char why[512] = "";
        if (o->exec != NULL) {
            be = exec_backend_new(o->exec, o->exec_timeout_s);
        } else {
            webhook_cfg wc = {.url = o->webhook,
                              .token_file = o->webhook_token_file,
                              .timeout_s = o->webhook_timeout_s,
                              .parallel = o->webhook_parallel};
            be = webhook_backend_new(&wc, why, sizeof why);
        }
        if (be == NULL || (pool = handler_pool_new(&cfg, be)) == NULL) {
            err_msg("%s", why[0] ? why : "out of memory");
            return EXIT_ERR;
        }
    }
    if ((rc = open_agent(o, false, true, true, &a)) != 0) {
        handler_pool_free(&pool);
        return rc;
    }
    {
        char mem[400];
        note_msg("serving as %s (%s)", rk_agent_org(a), rk_harden_describe(&harden, mem, sizeof mem));
    }
    rc = 0;
    /* With --exec / --webhook, what the pool holds is settled before
     * --count ends it. */
    while (!stop_requested &&
           (o->count <= 0 || handled < o->count || (pool != NULL && handler_pool_held(pool) > 0))) {
        rk_event *ev = NULL;
        char why[512] = "";
        bool busy = pool != NULL && handler_pool_held(pool) > 0;
        rk_agent_err err;

        /* Wait in the pool only while it cannot take more; otherwise the
         * inbox is looked at (briefly while requests are in flight). */
        if (pool != NULL)
            handler_pool_step(pool, a, handler_pool_full(pool) ? 50 : 0);
        if ((o->count > 0 && handled >= o->count) || (pool != NULL && handler_pool_full(pool)))
            continue;
        if (pool != NULL) {
            /* With --exec / --webhook only requests are taken (replies to
             * this organization's own messages stay for whoever waits for
             * them), as many as the pool has room for, in one commit. */
            size_t room = handler_pool_room(pool), got = 0;
            rk_event *evs[SERVE_BATCH_MAX];
            if (room > SERVE_BATCH_MAX)
                room = SERVE_BATCH_MAX;
            if (o->count > 0 && (size_t)(o->count - handled) < room)
                room = (size_t)(o->count - handled);
            if (room == 0)
                continue;
            err = rk_agent_recv_batch(a, RK_RECV_REQUESTS, room, busy ? 10 : 500, evs, &got, why, sizeof why);
            if (err == RK_AGENT_ETIMEOUT || err == RK_AGENT_EINTR)
                continue;
            if (err != RK_AGENT_OK) {
                err_msg("%s", why[0] ? why : rk_agent_strerror(err));
                rc = EXIT_ERR;
                break;
            }
            for (size_t i = 0; i < got; i++) {
                handled += serve_event(pool, a, &evs[i]);
                rk_event_free(&evs[i]);
            }
            continue;
        }
        err = rk_agent_recv_only(a, RK_RECV_ALL, busy ? 10 : 500, &ev, why, sizeof why);
        if (err == RK_AGENT_ETIMEOUT || err == RK_AGENT_EINTR)
            continue;
        if (err != RK_AGENT_OK) {
            err_msg("%s", why[0] ? why : rk_agent_strerror(err));
            rc = EXIT_ERR;
            break;
        }
        handled += serve_event(pool, a, &ev);
        rk_event_free(&ev);
    }
    if (pool != NULL && handler_pool_held(pool) > 0)
        warn_msg("stopping: %zu request%s not yet taken by %s stay%s claimed in the inbox and are handed "
                 "out again when serve starts again",
                 handler_pool_held(pool), handler_pool_held(pool) == 1 ? "" : "s",
                 o->exec != NULL ? "the command" : "the webhook", handler_pool_held(pool) == 1 ? "s" : "");
    handler_pool_free(&pool);
    rk_agent_close(&a);
    return rc;
}

/* ------------------------------------------------------------------ reply */

/* Answers a request taken earlier: a reply, or a refusal. */
static int cmd_reply(const options *o)
{
    rk_agent_t *a = NULL;
    rk_event *req = NULL;
    uint8_t msg_id[RK_MSGID_LEN], reply_id[RK_MSGID_LEN];
    char *payload = NULL, why[512] = "", reply_hex[33];
    size_t payload_len = 0;
    rk_result_t result;
    rk_agent_err err;
    int rc;

    if (o->from == NULL || o->to_msg == NULL)
        return usage_error("reply needs --from ORG and --to-msg MSGID (the request in the inbox)");
    if (!rk_valid_name(o->from))
        return usage_error("--from must be an organization id (lowercase letters, digits, '.', '_', '-')");
    if (!rk_code_from_text(o->to_msg, msg_id))
        return usage_error("--to-msg must be a message id of exactly 32 hexadecimal digits");
    if (o->refuse != NULL && o->payload != NULL)
        return usage_error("give --payload FILE or --refuse REASON, not both");
    if (o->refuse != NULL && strlen(o->refuse) > RK_DETAIL_MAX)
        return usage_error("--refuse takes a reason of at most %d characters", RK_DETAIL_MAX);
    if ((rc = check_needs(o, "reply", NEED_KEY | NEED_HUB_KEY | NEED_DATA)) != 0)
        return rc;
    if (o->refuse == NULL && (rc = read_payload(o, &payload, &payload_len)) != 0)
        return rc;
    if ((rc = open_agent(o, false, true, false, &a)) != 0)
        goto done;
    err = rk_agent_take(a, o->from, msg_id, &req, why, sizeof why);
    if (err == RK_AGENT_OK && req->has_reply_to) {
        err = RK_AGENT_EINVAL;
        snprintf(why, sizeof why, "that message is a reply, not a request");
    }
    if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        rc = exit_for(err);
        goto done;
    }
    if (o->refuse != NULL) {
        err = rk_agent_refuse(a, req, RK_ST_REFUSED_BY_RECIPIENT, o->refuse, why, sizeof why);
        if (err != RK_AGENT_OK) {
            err_msg("%s", why[0] ? why : rk_agent_strerror(err));
            rc = exit_for(err);
            goto done;
        }
        printf("refused: %s\n", o->to_msg);
        fflush(stdout);
        goto done;
    }
    err = rk_agent_reply(a, req, (const uint8_t *)payload, payload_len, reply_id, &result, why, sizeof why);
    hex16(reply_id, reply_hex);
    if (err == RK_AGENT_EREFUSED) {
        print_refusal(&result);
        rc = EXIT_REFUSED;
    } else if (err == RK_AGENT_EPENDING) {
        print_pending(reply_id, why);
        rc = EXIT_PENDING;
    } else if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        rc = exit_for(err);
    } else {
        fprintf(stderr, "accepted: seq %llu msg %s\n", (unsigned long long)result.seq, reply_hex);
        fflush(stderr);
        rc = print_send_status(reply_hex, result.seq, "ACCEPTED");
    }

done:
    rk_event_free(&req);
    rk_agent_close(&a);
    if (payload != NULL) {
        sodium_memzero(payload, payload_len);
        free(payload);
    }
    return rc;
}

/* ------------------------------------------------------------------ retry */

/* Puts DEAD inbox entries back to be handed out (a running serve picks
 * them up). */
static int cmd_retry(const options *o)
{
    rk_agent_t *a = NULL;
    uint8_t msg_id[RK_MSGID_LEN];
    char why[512] = "";
    size_t n = 0;
    rk_agent_err err;
    int rc;

    if (o->all_dead && (o->from != NULL || o->msg != NULL))
        return usage_error("retry takes --from ORG --msg MSGID, or --all-dead, not both");
    if (!o->all_dead && (o->from == NULL || o->msg == NULL))
        return usage_error("retry needs --from ORG --msg MSGID (a dead request in the inbox), or --all-dead");
    if (o->from != NULL && !rk_valid_name(o->from))
        return usage_error("--from must be an organization id (lowercase letters, digits, '.', '_', '-')");
    if (o->msg != NULL && !rk_code_from_text(o->msg, msg_id))
        return usage_error("--msg must be a message id of exactly 32 hexadecimal digits");
    if ((rc = check_needs(o, "retry", NEED_DATA)) != 0)
        return rc;
    if ((rc = open_agent(o, true, false, false, &a)) != 0)
        return rc;
    err = rk_agent_retry_dead(a, o->all_dead ? NULL : o->from, o->all_dead ? NULL : msg_id, &n, why,
                              sizeof why);
    rk_agent_close(&a);
    if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        return exit_for(err);
    }
    printf("retried: %zu dead request%s handed out again (a running serve takes %s now)\n", n,
           n == 1 ? "" : "s", n == 1 ? "it" : "them");
    fflush(stdout);
    return 0;
}

/* ------------------------------------------------------------------ directory */

static int cmd_directory(const options *o)
{
    rk_agent_t *a = NULL;
    const rk_dir_t *dir;
    int rc;

    if ((rc = check_needs(o, "directory", NEED_KEY | NEED_HUB_KEY)) != 0)
        return rc;
    if ((rc = open_agent(o, false, true, false, &a)) != 0)
        return rc;
    dir = rk_agent_directory(a);
    for (size_t i = 0; dir != NULL && i < dir->n; i++) {
        char until[32] = "";
        if (dir->orgs[i].has_prev)
            utc_text(dir->orgs[i].prev_until_ms, until);
        printf("%-32s %-13s %s%s%s\n", dir->orgs[i].id, dir->orgs[i].kind,
               dir->orgs[i].active ? "active" : "suspended",
               dir->orgs[i].has_prev ? "  previous key admitted until " : "", until);
    }
    fflush(stdout);
    rk_agent_close(&a);
    return 0;
}

/* ------------------------------------------------------------------ procedures */

/* The hub's procedure catalogue as this organization sees it. */
static int cmd_procedures(const options *o)
{
    rk_agent_t *a = NULL;
    rk_procedure *list = NULL;
    size_t n = 0;
    char why[512] = "";
    rk_agent_err err;
    int rc;

    if ((rc = check_needs(o, "procedures", NEED_KEY | NEED_HUB_KEY)) != 0)
        return rc;
    if ((rc = open_agent(o, false, true, false, &a)) != 0)
        return rc;
    err = rk_agent_procedures(a, &list, &n, why, sizeof why);
    if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        rk_agent_close(&a);
        return EXIT_ERR;
    }
    printf("%-32s  %-4s  %-7s  %-26s  %s\n", "PROCEDURE", "SEND", "RECEIVE", "ANSWER", "TITLE");
    for (size_t i = 0; i < n; i++) {
        const rk_procedure *p = &list[i];
        char ans[96];
        if (p->local)
            continue;
        if (p->follows[0] != '\0')
            snprintf(ans, sizeof ans, "follows %s", p->follows);
        else
            snprintf(ans, sizeof ans, "%s", p->replied ? "replied" : "none");
        printf("%-32s  %-4s  %-7s  %-26s  %s\n", p->type, p->may_send ? "yes" : "-",
               p->may_receive ? "yes" : "-", ans, p->title);
        if (p->granted && p->may_send)
            printf("%-32s  granted by: %s\n", "", p->granted_by);
        else if (p->granted && !p->may_send)
            printf("%-32s  (access = granted: no recipient grants it to %s yet)\n", "", rk_agent_org(a));
    }
    printf("\nHandled inside a municipality (never routed):");
    for (size_t i = 0; i < n; i++)
        if (list[i].local)
            printf(" %s", list[i].type);
    printf("\n");
    fflush(stdout);
    free(list);
    rk_agent_close(&a);
    return 0;
}

/* ------------------------------------------------------------------ routing log */

/* The one outbox message whose id starts with prefix, into msg_id. */
static int find_message(rk_agent_t *a, const char *prefix, uint8_t msg_id[RK_MSGID_LEN])
{
    rk_msg_status *list = NULL;
    size_t n = 0, hits = 0, at = 0;
    char why[512] = "";
    rk_agent_err err = rk_agent_status_list(a, NULL, &list, &n, why, sizeof why);

    if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        return EXIT_ERR;
    }
    for (size_t i = 0; i < n; i++) {
        char hex[33];
        hex16(list[i].msg_id, hex);
        if (strncmp(hex, prefix, strlen(prefix)) == 0) {
            hits++;
            at = i;
        }
    }
    if (hits == 1)
        memcpy(msg_id, list[at].msg_id, RK_MSGID_LEN);
    free(list);
    if (hits == 0) {
        err_msg("no message %s in this agent's outbox", prefix);
        return EXIT_ERR;
    }
    if (hits > 1) {
        err_msg("%zu messages start with %s: give more digits", hits, prefix);
        return EXIT_USAGE;
    }
    return 0;
}

static void print_hex(FILE *f, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", b[i]);
}

/* Writes the receipt as text: what it proves and everything needed to
 * check it again without the hub (but with hub.pub). */
static int write_receipt(const char *path, const rk_receipt *r, const char *verdict)
{
    char hex[33];
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        err_msg("cannot write the receipt to %s: %s", path, strerror(errno));
        return EXIT_ERR;
    }
    hex16(r->msg_id, hex);
    fprintf(f, "renkei-receipt 1\n");
    fprintf(f, "msg_id %s\n", hex);
    fprintf(f, "index %llu\n", (unsigned long long)r->index);
    fprintf(f, "tree_size %llu\n", (unsigned long long)r->tree_size);
    fprintf(f, "inclusion %s\n", verdict);
    fprintf(f, "entry ");
    if (r->entry != NULL)
        print_hex(f, r->entry, r->entry_len);
    else
        fprintf(f, "-");
    fprintf(f, "\n");
    for (size_t i = 0; i < r->n; i++) {
        fprintf(f, "proof ");
        print_hex(f, r->proof[i], RK_HASH_LEN);
        fprintf(f, "\n");
    }
    fprintf(f, "checkpoint\n%s", r->checkpoint);
    if (fclose(f) != 0) {
        err_msg("cannot write the receipt to %s: %s", path, strerror(errno));
        return EXIT_ERR;
    }
    return 0;
}

static int cmd_receipt(const options *o, const char *msg_arg)
{
    rk_agent_t *a = NULL;
    rk_receipt r;
    uint8_t msg_id[RK_MSGID_LEN];
    char why[1024] = "", hex[33], t[32];
    const char *verdict;
    size_t len = strlen(msg_arg);
    rk_agent_err err;
    int rc;

    memset(&r, 0, sizeof r);
    if (len == 0 || len > 32 || strspn(msg_arg, "0123456789abcdef") != len)
        return usage_error("receipt: MSGID is the message id (hexadecimal, lowercase) or a prefix of it");
    if ((rc = check_needs(o, "receipt", NEED_KEY | NEED_HUB_KEY | NEED_DATA)) != 0)
        return rc;
    if ((rc = open_agent(o, false, true, false, &a)) != 0)
        return rc;
    if ((rc = find_message(a, msg_arg, msg_id)) != 0) {
        rk_agent_close(&a);
        return rc;
    }
    err = rk_agent_receipt(a, msg_id, &r, why, sizeof why);
    rk_agent_close(&a);
    hex16(msg_id, hex);
    if (r.checkpoint == NULL) {
        /* Nothing could be checked. */
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        rk_receipt_clear(&r);
        return exit_for(err == RK_AGENT_OK ? RK_AGENT_EPROTO : err);
    }
    verdict = err == RK_AGENT_OK ? "verified" : err == RK_AGENT_EUNVERIFIED ? "not-checked" : "FAILED";
    printf("message     %s\n", hex);
    printf("log entry   %llu\n", (unsigned long long)r.index);
    if (r.tree_size > 0) {
        char root[RK_HASH_LEN * 2 + 1];
        sodium_bin2hex(root, sizeof root, r.root, RK_HASH_LEN);
        utc_text((uint64_t)r.time * 1000u, t);
        printf("checkpoint  %llu entries, signed %s, signature verified\n", (unsigned long long)r.tree_size, t);
        printf("root        %s\n", root);
        printf("proof       %zu hash%s\n", r.n, r.n == 1 ? "" : "es");
    }
    if (r.entry != NULL && r.decoded.event != 0)
        printf("entry       %s %s -> %s %s seq %llu (bytes from the %s)\n", rk_log_event_name(r.decoded.event),
               r.decoded.from, r.decoded.to, r.decoded.type, (unsigned long long)r.decoded.seq, r.entry_source);
    else if (r.entry == NULL && r.n > 0)
        printf("entry       not provided by the hub\n");
    printf("inclusion   %s\n", err == RK_AGENT_OK             ? "verified"
                                 : err == RK_AGENT_EUNVERIFIED ? "NOT CHECKED (entry not provided by the hub)"
                                                               : "FAILED");
    fflush(stdout);
    if (err != RK_AGENT_OK)
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
    if (o->out != NULL && r.tree_size > 0) {
        if ((rc = write_receipt(o->out, &r, verdict)) != 0) {
            rk_receipt_clear(&r);
            return rc;
        }
        printf("receipt     written to %s\n", o->out);
        fflush(stdout);
    }
    rk_receipt_clear(&r);
    return exit_for(err);
}

static int cmd_disclose(const options *o)
{
    rk_agent_t *a = NULL;
    rk_disclosed *list = NULL;
    size_t n = 0;
    uint64_t size = 0;
    rk_status st = RK_ST_UNSPECIFIED;
    char why[512] = "";
    rk_agent_err err;
    int rc;

    if ((rc = check_needs(o, "disclose", NEED_KEY | NEED_HUB_KEY | NEED_DATA)) != 0)
        return rc;
    if ((rc = open_agent(o, false, true, false, &a)) != 0)
        return rc;
    err = rk_agent_disclose(a, o->person, &list, &n, &size, &st, why, sizeof why);
    rk_agent_close(&a);
    if (err != RK_AGENT_OK) {
        err_msg("%s", why[0] ? why : rk_agent_strerror(err));
        return exit_for(err);
    }
    printf("%-7s  %-20s  %-17s  %-12s  %-12s  %-22s  %s\n", "INDEX", "TIME (UTC)", "EVENT", "FROM", "TO", "TYPE",
           "OUTCOME");
    for (size_t i = 0; i < n; i++) {
        const rk_log_entry_t *e = &list[i].entry;
        char t[32];
        utc_text(e->time_ms, t);
        printf("%-7llu  %-20s  %-17s  %-12s  %-12s  %-22s  %s\n", (unsigned long long)list[i].index, t,
               rk_log_event_name(e->event), e->from[0] ? e->from : "-", e->to[0] ? e->to : "-",
               e->type[0] ? e->type : "-", e->outcome != RK_ST_UNSPECIFIED ? rk_status_name(e->outcome) : "-");
    }
    printf("%zu entr%s about this person, of %llu on the routing log\n", n, n == 1 ? "y" : "ies",
           (unsigned long long)size);
    fflush(stdout);
    free(list);
    return 0;
}

/* ------------------------------------------------------------------ command line */

enum {
    OPT_HUB,
    OPT_HUB_KEY,
    OPT_KEY,
    OPT_PREVIOUS_KEY,
    OPT_DATA,
    OPT_TIMEOUT,
    OPT_LOG_ORIGIN,
    OPT_MAP_SIZE,
    OPT_KEEP_DAYS,
    OPT_LOG_LEVEL,
    OPT_LOG_FORMAT,
    OPT_HELP,
    OPT_PERSON_FILE,
    OPT_PERSON,
    OPT_TO,
    OPT_TYPE,
    OPT_CODE,
    OPT_PAYLOAD,
    OPT_REPLY_TO,
    OPT_NO_WAIT,
    OPT_NO_REPLY,
    OPT_EXEC,
    OPT_COUNT,
    OPT_ALL,
    OPT_OUT,
    OPT_LISTEN,
    OPT_TOKEN_FILE,
    OPT_LEASE,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_NUMBER_RULE,
    OPT_NEW_PERSON_FILE,
    OPT_EXEC_TIMEOUT,
    OPT_EXEC_PARALLEL,
    OPT_EXEC_RETRIES,
    OPT_FROM,
    OPT_TO_MSG,
    OPT_REFUSE,
    OPT_SPOOL_DIR,
    OPT_WEBHOOK,
    OPT_WEBHOOK_TOKEN_FILE,
    OPT_WEBHOOK_TIMEOUT,
    OPT_WEBHOOK_PARALLEL,
    OPT_WEBHOOK_RETRIES,
    OPT_MSG,
    OPT_ALL_DEAD,
    N_OPTS
};

static const rk_cli_opt_t cli_options[N_OPTS] = {
    [OPT_HUB] = {"hub", 'H', "ENDPOINT", "the hub's endpoint (default tcp://127.0.0.1:7750)", "RENKEI_HUB",
                 -1, 0},
    [OPT_HUB_KEY] = {"hub-key", 'K', "FILE", "the hub's public key, hub.pub", "RENKEI_HUB_KEY", -1, 0},
    [OPT_KEY] = {"key", 'k', "FILE", "this organization's secret key, ORG.key", "RENKEI_KEY", -1, 0},
    [OPT_PREVIOUS_KEY] = {"previous-key", 0, "FILE",
                          "during a rekey's overlap: this organization's key from before the rekey; the\n"
                          "agent opens what was sealed to either key and moves to --key when the hub\n"
                          "stops admitting this one",
                          "RENKEI_PREVIOUS_KEY", -1, 0},
    [OPT_DATA] = {"data", 'd', "DIR", "this agent's own table of persons and link codes", "RENKEI_DATA", -1,
                  0},
    [OPT_TIMEOUT] = {"timeout", 't', "SECS", "how long to wait for the hub or a reply (default 10)", NULL, -1,
                     0},
    [OPT_LOG_ORIGIN] = {"log-origin", 0, "NAME",
                        "the hub's routing-log name (its --log-origin; default: the name\nits checkpoints carry)",
                        "RENKEI_LOG_ORIGIN", -1, 0},
    [OPT_MAP_SIZE] =
        {"map-size", 0, "BYTES",
         "the most the data directory's store may take, in bytes, or\nwith a K, M or G suffix "
         "(default 1G).  When it is full, send\nfails with nothing recorded and deliveries wait at "
         "the hub;\nthey come in once it is larger or purged",
         "RENKEI_MAP_SIZE", -1, 0},
    [OPT_KEEP_DAYS] = {"keep-days", 0, "N",
                       "keep completed messages N days, then delete them (default\n30, at least 15)",
                       "RENKEI_KEEP_DAYS", -1, 0},
    [OPT_LOG_LEVEL] = {"log-level", 0, "LEVEL",
                       "error, warning, notice (default), info or debug: the\nlowest level of the lines "
                       "written on stderr",
                       "RENKEI_LOG_LEVEL", -1, 0},
    [OPT_LOG_FORMAT] = {"log-format", 0, "FORMAT",
                        "text (default) or json: one object per line with time,\nlevel and message",
                        "RENKEI_LOG_FORMAT", -1, 0},
    [OPT_HELP] = {"help", 'h', NULL, "show this help (after a command: that command's)", NULL, -1, 0},
    [OPT_PERSON_FILE] = {"person-file", 0, "FILE",
                         "read the resident's number from FILE (- is standard input)", NULL, -1, 0},
    [OPT_PERSON] = {"person", 0, NULL, "the resident's number is on standard input (--person-file -)", NULL,
                    -1, 0},
    [OPT_TO] = {"to", 0, "ORG", "the recipient organization", NULL, -1, 0},
    [OPT_TYPE] = {"type", 0, "TYPE", "the procedure type (e.g. utility.supply.stop)", NULL, -1, 0},
    [OPT_CODE] = {"code", 0, "HEX", "the person by this organization's link code instead of NUMBER", NULL, -1,
                  0},
    [OPT_PAYLOAD] = {"payload", 0, "FILE", "the JSON payload from FILE (default: standard input)", NULL, -1,
                     0},
    [OPT_REPLY_TO] =
        {"reply-to", 0, "MSGID",
         "the message answers MSGID (32 hex digits), a message ORG sent\nto this organization about "
         "the same person",
         NULL, -1, 0},
    [OPT_NO_WAIT] = {"no-wait", 0, NULL, "do not wait for the reply", NULL, -1, 0},
    [OPT_NO_REPLY] = {"no-reply", 0, NULL, "no reply is expected at all (a notice)", NULL, -1, 0},
    [OPT_EXEC] = {"exec", 0, "CMD",
                  "hand each request to /bin/sh -c CMD on stdin and send its\nJSON output back as "
                  "the reply",
                  NULL, -1, 0},
    [OPT_COUNT] = {"count", 0, "N", "stop after N messages", NULL, -1, 0},
    [OPT_ALL] = {"all", 0, NULL, "every message, not only the open ones", NULL, -1, 0},
    [OPT_OUT] = {"out", 0, "FILE", "keep the receipt in FILE", NULL, -1, 0},
    [OPT_LISTEN] = {"listen", 0, "ADDR",
                    "http: where to serve: PORT, 127.0.0.1:PORT, [::1]:PORT or\nunix:/path (loopback only)",
                    NULL, -1, 0},
    [OPT_TOKEN_FILE] = {"token-file", 0, "FILE", "http: the bearer token every request must carry (one line)",
                        NULL, -1, 0},
    [OPT_LEASE] = {"lease", 0, "SECS",
                   "http: a message GET /v1/inbox handed out and not answered\nwithin SECS is handed out "
                   "again (default 300)",
                   NULL, -1, 0},
    [OPT_TLS_CERT] = {"tls-cert", 0, "FILE", "http: serve HTTPS with this PEM certificate (with --tls-key)",
                      NULL, -1, 0},
    [OPT_TLS_KEY] = {"tls-key", 0, "FILE", "http: the PEM private key of --tls-cert", NULL, -1, 0},
    [OPT_NUMBER_RULE] = {"number-rule", 0, "RULE",
                         "what a resident's number must be: mynumber (default; 12\n"
                         "digits with a valid check digit, full-width digits, spaces\nand hyphens "
                         "allowed) or any (1 to 64 printable ASCII\ncharacters, taken as they are)",
                         "RENKEI_NUMBER_RULE", -1, 0},
    [OPT_NEW_PERSON_FILE] = {"new-person-file", 0, "FILE",
                             "read the corrected number from FILE (- is standard input)", NULL, -1, 0},
    [OPT_EXEC_TIMEOUT] = {"exec-timeout", 0, "SECS",
                          "kill CMD (its process group) after SECS seconds and count\nit as a failure "
                          "(default 60)",
                          NULL, -1, 0},
    [OPT_EXEC_PARALLEL] = {"exec-parallel", 0, "N", "run CMD for at most N requests at once (default 1)",
                           NULL, -1, 0},
    [OPT_EXEC_RETRIES] = {"exec-retries", 0, "N",
                          "run a failed CMD again up to N times, 1, 2, 4 ... s apart\n(default 3; 0: never), "
                          "then DEAD",
                          NULL, -1, 0},
    [OPT_FROM] = {"from", 0, "ORG", "the organization that sent the request", NULL, -1, 0},
    [OPT_TO_MSG] = {"to-msg", 0, "MSGID", "the request answered (32 hex digits)", NULL, -1, 0},
    [OPT_REFUSE] = {"refuse", 0, "REASON",
                    "refuse the request for REASON (a short business reason,\nno personal data) "
                    "instead of replying",
                    NULL, -1, 0},
    [OPT_SPOOL_DIR] = {"spool-dir", 0, "DIR",
                       "spool: the folder whose out/ is watched for NAME.json files\nand whose in/ receives "
                       "messages (see README.md)",
                       NULL, -1, 0},
    [OPT_WEBHOOK] = {"webhook", 0, "URL",
                     "POST each request to URL (http:// or https://) as JSON and\nsend the reply it answers "
                     "(see README.md, Webhooks)",
                     NULL, -1, 0},
    [OPT_WEBHOOK_TOKEN_FILE] = {"webhook-token-file", 0, "FILE",
                                "send Authorization: Bearer TOKEN (the file's one line)\nwith each webhook "
                                "request",
                                NULL, -1, 0},
    [OPT_WEBHOOK_TIMEOUT] = {"webhook-timeout", 0, "SECS",
                             "give up a webhook request after SECS seconds and count it\nas a failure "
                             "(default 30)",
                             NULL, -1, 0},
    [OPT_WEBHOOK_PARALLEL] = {"webhook-parallel", 0, "N", "at most N webhook requests at once (default 4)",
                              NULL, -1, 0},
    [OPT_WEBHOOK_RETRIES] = {"webhook-retries", 0, "N",
                             "send a failed webhook request again up to N times, 1, 2,\n4 ... s apart "
                             "(default 5; 0: never), then DEAD",
                             NULL, -1, 0},
    [OPT_MSG] = {"msg", 0, "MSGID", "retry: the dead request (32 hex digits)", NULL, -1, 0},
    [OPT_ALL_DEAD] = {"all-dead", 0, NULL, "retry: every dead request", NULL, -1, 0},
};

static const int cli_globals[] = {OPT_HUB,        OPT_HUB_KEY,
                                  OPT_KEY,        OPT_PREVIOUS_KEY,
                                  OPT_DATA,       OPT_TIMEOUT,
                                  OPT_LOG_ORIGIN, OPT_MAP_SIZE,
                                  OPT_KEEP_DAYS,  OPT_LOG_LEVEL,
                                  OPT_LOG_FORMAT, OPT_NUMBER_RULE,
                                  OPT_HELP,       -1};
static const int person_opts[] = {OPT_PERSON_FILE, OPT_PERSON, -1};
static const int rebind_opts[] = {OPT_PERSON_FILE, OPT_NEW_PERSON_FILE, -1};
static const int send_opts[] = {OPT_TO,      OPT_TYPE,     OPT_PERSON_FILE, OPT_PERSON,   OPT_CODE,
                                OPT_PAYLOAD, OPT_REPLY_TO, OPT_NO_WAIT,     OPT_NO_REPLY, -1};
static const int serve_opts[] = {OPT_EXEC,
                                 OPT_EXEC_TIMEOUT,
                                 OPT_EXEC_PARALLEL,
                                 OPT_EXEC_RETRIES,
                                 OPT_WEBHOOK,
                                 OPT_WEBHOOK_TOKEN_FILE,
                                 OPT_WEBHOOK_TIMEOUT,
                                 OPT_WEBHOOK_PARALLEL,
                                 OPT_WEBHOOK_RETRIES,
                                 OPT_COUNT,
                                 -1};
static const int retry_opts[] = {OPT_FROM, OPT_MSG, OPT_ALL_DEAD, -1};
static const int reply_opts[] = {OPT_FROM, OPT_TO_MSG, OPT_PAYLOAD, OPT_REFUSE, -1};
static const int status_opts[] = {OPT_PERSON, OPT_PERSON_FILE, OPT_ALL, -1};
static const int receipt_opts[] = {OPT_OUT, -1};
static const int http_opts[] = {OPT_LISTEN, OPT_TOKEN_FILE, OPT_LEASE, OPT_TLS_CERT, OPT_TLS_KEY, -1};
static const int spool_opts[] = {OPT_SPOOL_DIR, -1};

/* What a command's handler gets: the options, and room for the number
 * (main wipes it). */
typedef struct run_ctx {
    options o;
    char person[RK_PERSON_MAX + 1];
    char new_person[RK_PERSON_MAX + 1];
} run_ctx;

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: waits return EINTR and the loop looks at the flag */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/* A byte count with an optional K, M or G suffix (powers of 1024). */
static bool parse_size(const char *text, size_t *out)
{
    char *end = NULL;
    unsigned long long v;
    unsigned shift = 0;

    if (text[0] < '0' || text[0] > '9')
        return false;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || end == text)
        return false;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift != 0)
        end++;
    if (*end != '\0' || v > (SIZE_MAX >> shift))
        return false;
    v <<= shift;
    if (v < MAP_SIZE_MIN)
        return false;
    *out = (size_t)v;
    return true;
}

static bool parse_days(const char *text, int *out)
{
    char *end = NULL;
    long v;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < RK_KEEP_DAYS_MIN || v > RK_KEEP_DAYS_MAX)
        return false;
    *out = (int)v;
    return true;
}

/* Reads the parsed command line into r->o, checks what the table cannot,
 * and readies the process.  0, or the exit status. */
static int begin(const rk_cli_args_t *a, run_ctx *r)
{
    options *o = &r->o;
    const char *v;
    unsigned long long count = 0;

    memset(o, 0, sizeof *o);
    usage_cmd = a->cmd->name;
    o->hub = a->value[OPT_HUB];
    o->hub_key = a->value[OPT_HUB_KEY];
    o->key = a->value[OPT_KEY];
    o->previous_key = a->value[OPT_PREVIOUS_KEY];
    o->data = a->value[OPT_DATA];
    o->log_origin = a->value[OPT_LOG_ORIGIN];
    o->map_size = a->value[OPT_MAP_SIZE];
    o->keep_days = a->value[OPT_KEEP_DAYS];
    o->timeout_s = 10;
    o->to = a->value[OPT_TO];
    o->type = a->value[OPT_TYPE];
    o->person_file = a->value[OPT_PERSON_FILE];
    o->person_opt = a->count[OPT_PERSON] > 0;
    o->code = a->value[OPT_CODE];
    o->reply_to = a->value[OPT_REPLY_TO];
    o->payload = a->value[OPT_PAYLOAD];
    o->no_wait = a->count[OPT_NO_WAIT] > 0;
    o->no_reply = a->count[OPT_NO_REPLY] > 0;
    o->all = a->count[OPT_ALL] > 0;
    o->exec = a->value[OPT_EXEC];
    o->exec_timeout_s = EXEC_TIMEOUT_DEFAULT_S;
    o->exec_parallel = 1;
    o->exec_retries = EXEC_RETRIES_DEFAULT;
    o->from = a->value[OPT_FROM];
    o->to_msg = a->value[OPT_TO_MSG];
    o->refuse = a->value[OPT_REFUSE];
    o->webhook = a->value[OPT_WEBHOOK];
    o->webhook_token_file = a->value[OPT_WEBHOOK_TOKEN_FILE];
    o->webhook_timeout_s = WEBHOOK_TIMEOUT_DEFAULT_S;
    o->webhook_parallel = WEBHOOK_PARALLEL_DEFAULT;
    o->webhook_retries = WEBHOOK_RETRIES_DEFAULT;
    o->msg = a->value[OPT_MSG];
    o->all_dead = a->count[OPT_ALL_DEAD] > 0;
    {
        /* The handler's limits: the same meaning for --exec and --webhook. */
        static const struct {
            int opt, min, max;
            size_t at;
        } limits[] = {
            {OPT_EXEC_TIMEOUT, 1, 86400, offsetof(options, exec_timeout_s)},
            {OPT_EXEC_PARALLEL, 1, 64, offsetof(options, exec_parallel)},
            {OPT_EXEC_RETRIES, 0, 100, offsetof(options, exec_retries)},
            {OPT_WEBHOOK_TIMEOUT, 1, 86400, offsetof(options, webhook_timeout_s)},
            {OPT_WEBHOOK_PARALLEL, 1, 64, offsetof(options, webhook_parallel)},
            {OPT_WEBHOOK_RETRIES, 0, 100, offsetof(options, webhook_retries)},
        };
        for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
            const char *name = cli_options[limits[i].opt].name;
            if ((v = a->value[limits[i].opt]) == NULL)
                continue;
            if (limits[i].min == 0 && strcmp(v, "0") == 0)
                count = 0;
            else if (!rk_cli_parse_count(v, (unsigned long long)limits[i].max, &count))
                return usage_error("--%s takes a whole number%s from %d to %d, not \"%s\"", name,
                                   strstr(name, "timeout") != NULL ? " of seconds" : "", limits[i].min,
                                   limits[i].max, v);
            *(int *)(void *)((char *)o + limits[i].at) = (int)count;
            if (strncmp(name, "webhook-", 8) == 0 && o->webhook == NULL)
                return usage_error("--%s goes with --webhook URL", name);
            if (strncmp(name, "exec-", 5) == 0 && o->webhook != NULL)
                return usage_error("--%s goes with --exec; with --webhook it is --webhook-%s", name,
                                   name + 5);
        }
    }
    count = 0;
    if (o->exec != NULL && o->webhook != NULL)
        return usage_error("serve takes --exec CMD or --webhook URL, not both");
    if (o->webhook != NULL && !webhook_url_valid(o->webhook))
        return usage_error("--webhook takes an http:// or https:// URL, not \"%s\"", o->webhook);
    if (o->webhook_token_file != NULL && o->webhook == NULL)
        return usage_error("--webhook-token-file goes with --webhook URL");
    o->out = a->value[OPT_OUT];
    o->new_person_file = a->value[OPT_NEW_PERSON_FILE];
    if ((v = a->value[OPT_NUMBER_RULE]) != NULL && !rk_number_rule_parse(v, &o->number_rule))
        return usage_error("--number-rule (or RENKEI_NUMBER_RULE) takes mynumber or any, not \"%s\"", v);
    if ((v = a->value[OPT_LOG_LEVEL]) != NULL && !rk_log_level_parse(v, &log_max))
        return usage_error("--log-level takes error, warning, notice, info or debug, not \"%s\"", v);
    if ((v = a->value[OPT_LOG_FORMAT]) != NULL && !rk_log_format_parse(v, &log_format))
        return usage_error("--log-format takes text or json, not \"%s\"", v);
    log_journal = rk_log_is_journal(stderr);
    if ((v = a->value[OPT_TIMEOUT]) != NULL && !rk_cli_parse_seconds(v, 86400, &o->timeout_s))
        return usage_error("--timeout takes a number of seconds between 0 and 86400, not \"%s\"", v);
    if ((v = a->value[OPT_COUNT]) != NULL) {
        if (!rk_cli_parse_count(v, LONG_MAX, &count))
            return usage_error("--count takes a positive whole number, not \"%s\"", v);
        o->count = (long)count;
    }
    if (a->count[OPT_PERSON_FILE] > 1)
        return usage_error("--person-file is given twice");
    if (o->map_size != NULL && !parse_size(o->map_size, &o->map_bytes))
        return usage_error("--map-size takes a number of bytes of at least %zu (a K, M or G suffix is "
                           "allowed), not \"%s\"",
                           MAP_SIZE_MIN, o->map_size);
    if (o->keep_days != NULL && !parse_days(o->keep_days, &o->days))
        return usage_error("--keep-days takes a whole number of days from %d to %d, not \"%s\" (the inbox "
                           "must still recognize a message the hub may bring again within its "
                           "time-to-live and a day)",
                           RK_KEEP_DAYS_MIN, RK_KEEP_DAYS_MAX, o->keep_days);
    if (o->person_opt && o->person_file)
        return usage_error("give --person (the number on standard input) or --person-file FILE, not both");
    if (o->all && (o->person_opt || o->person_file))
        return usage_error("status takes --all or --person, not both");
    if (sodium_init() < 0) {
        err_msg("libsodium could not be initialized");
        return EXIT_ERR;
    }
    install_signals();
    return 0;
}

/* Reads the resident's number for a command that needs one, from
 * --person-file FILE or standard input, into r->person; r->o.person points there. */
static int take_person(run_ctx *r)
{
    int rc = read_person(r->o.person_file != NULL ? r->o.person_file : "-", r->o.number_rule, r->person);
    if (rc == 0)
        r->o.person = r->person;
    return rc;
}

static int run_lookup_enroll(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    const char *cmd = a->cmd->name;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return refuse_person_arg(cmd);
    if ((rc = check_needs(&r->o, cmd, NEED_DATA)) != 0)
        return rc;
    if ((rc = take_person(r)) != 0)
        return rc;
    return strcmp(cmd, "lookup") == 0 ? cmd_lookup(&r->o, r->person) : cmd_enroll(&r->o, r->person);
}

static int run_unenroll(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return refuse_person_arg("unenroll");
    if ((rc = check_needs(&r->o, "unenroll", NEED_DATA)) != 0)
        return rc;
    if ((rc = take_person(r)) != 0)
        return rc;
    return cmd_unenroll(&r->o, r->person);
}

static int run_rebind(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    options *o = &r->o;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return refuse_person_arg("rebind");
    if (o->person_file == NULL || o->new_person_file == NULL)
        return usage_error("usage: rebind --person-file OLD --new-person-file NEW (the mistyped number in "
                           "OLD, the corrected one in NEW; one of them may be -, standard input)");
    if (a->count[OPT_NEW_PERSON_FILE] > 1)
        return usage_error("--new-person-file is given twice");
    if (strcmp(o->person_file, "-") == 0 && strcmp(o->new_person_file, "-") == 0)
        return usage_error("rebind: standard input cannot carry both numbers: give at least one in a file");
    if ((rc = check_needs(o, "rebind", NEED_DATA)) != 0)
        return rc;
    if ((rc = take_person(r)) != 0)
        return rc;
    if ((rc = read_person(o->new_person_file, o->number_rule, r->new_person)) != 0)
        return rc;
    o->new_person = r->new_person;
    return cmd_rebind(o, r->person, r->new_person);
}

static int run_bind(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos >= 2) /* bind PERSON CODE, as it was */
        return refuse_person_arg("bind");
    if (a->npos != 1)
        return usage_error(
            "usage: bind CODE (the resident's number on standard input or in --person-file FILE)");
    if ((rc = check_needs(&r->o, "bind", NEED_DATA)) != 0)
        return rc;
    if ((rc = take_person(r)) != 0)
        return rc;
    return cmd_bind(&r->o, r->person, a->pos[0]);
}

static int run_send(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    const options *o = &r->o;
    bool about_person;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    about_person = o->person_opt || o->person_file != NULL;
    if (a->npos != 0 && about_person)
        return refuse_person_arg("send");
    if (a->npos != 0)
        return usage_error("send takes no arguments besides its options");
    if (about_person && (o->person_file == NULL || strcmp(o->person_file, "-") == 0) &&
        (o->payload == NULL || strcmp(o->payload, "-") == 0))
        return usage_error("send: standard input cannot carry both the resident's number and the payload: "
                           "give the number with --person-file FILE, or the payload with --payload FILE");
    if (about_person && (rc = take_person(r)) != 0)
        return rc;
    return cmd_send(&r->o);
}

static int run_reply(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return usage_error("reply takes no arguments besides its options");
    return cmd_reply(&r->o);
}

static int run_serve(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return usage_error("serve takes no arguments besides its options");
    return cmd_serve(&r->o);
}

static int run_retry(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return usage_error("retry takes no arguments besides its options");
    return cmd_retry(&r->o);
}

static int run_procedures(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return usage_error("procedures takes no arguments");
    return cmd_procedures(&r->o);
}

static int run_directory(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return usage_error("directory takes no arguments");
    return cmd_directory(&r->o);
}

static int run_status(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    bool about_person;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    about_person = r->o.person_opt || r->o.person_file != NULL;
    if (a->npos != 0 && about_person)
        return refuse_person_arg("status");
    if (a->npos > 1 || (a->npos == 1 && r->o.all))
        return usage_error("usage: status [MSGID | --person | --person-file FILE | --all]");
    if ((rc = check_needs(&r->o, "status", NEED_DATA)) != 0)
        return rc;
    if (about_person && (rc = take_person(r)) != 0)
        return rc;
    return cmd_status(&r->o, a->npos == 1 ? a->pos[0] : NULL);
}

static int run_flush(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return usage_error("flush takes no arguments");
    return cmd_flush(&r->o);
}

static int run_receipt(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 1)
        return usage_error("usage: receipt MSGID [--out FILE]");
    return cmd_receipt(&r->o, a->pos[0]);
}

static int run_disclose(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return refuse_person_arg("disclose");
    if ((rc = take_person(r)) != 0)
        return rc;
    return cmd_disclose(&r->o);
}

static int run_purge(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return usage_error("purge takes no arguments");
    if ((rc = check_needs(&r->o, "purge", NEED_DATA)) != 0)
        return rc;
    return cmd_purge(&r->o);
}

/* ------------------------------------------------------------------ http */

static void http_log(int level, const char *text)
{
    if (level == RK_LOG_ERR)
        err_msg("%s", text);
    else if (level == RK_LOG_WARNING)
        warn_msg("%s", text);
    else
        note_msg("%s", text);
}

static bool http_connect(rk_agent_t *a)
{
    char why[512] = "";
    rk_agent_err err = rk_agent_connect(a, why, sizeof why);
    if (err != RK_AGENT_OK)
        return false;
    note_msg("connected to the hub as %s", rk_agent_org(a));
    return true;
}

static int run_http(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    rk_http_config cfg;
    rk_agent_t *agent = NULL;
    char why[512] = "";
    int rc;

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return usage_error("http takes no arguments besides its options");
    if (a->value[OPT_LISTEN] == NULL || a->value[OPT_TOKEN_FILE] == NULL)
        return usage_error("http needs --listen ADDR and --token-file FILE");
    if (!rk_http_listen_valid(a->value[OPT_LISTEN], why, sizeof why))
        return usage_error("%s", why);
    memset(&cfg, 0, sizeof cfg);
    if (a->value[OPT_LEASE] != NULL) {
        unsigned long long count;
        if (!rk_cli_parse_count(a->value[OPT_LEASE], 86400, &count))
            return usage_error("--lease takes a whole number of seconds from 1 to 86400, not \"%s\"",
                               a->value[OPT_LEASE]);
        cfg.lease_s = (unsigned)count;
    }
    if ((a->value[OPT_TLS_CERT] == NULL) != (a->value[OPT_TLS_KEY] == NULL))
        return usage_error("HTTPS needs both --tls-cert FILE and --tls-key FILE");
    cfg.tls_cert = a->value[OPT_TLS_CERT];
    cfg.tls_key = a->value[OPT_TLS_KEY];
    if ((rc = check_needs(&r->o, "http", NEED_KEY | NEED_HUB_KEY | NEED_DATA)) != 0)
        return rc;
    /* A receiver: GET /v1/inbox hands out what is delivered. */
    if ((rc = open_for_send(&r->o, true, &agent)) != 0)
        return rc;
    cfg.listen = a->value[OPT_LISTEN];
    cfg.token_file = a->value[OPT_TOKEN_FILE];
    cfg.data_dir = r->o.data;
    cfg.number_rule = r->o.number_rule;
    cfg.log = http_log;
    cfg.connect = http_connect;
    rc = rk_http_serve(agent, &cfg, &stop_requested) == 0 ? 0 : EXIT_ERR;
    rk_agent_close(&agent);
    return rc;
}

static int run_spool(const rk_cli_args_t *a, void *ctx)
{
    run_ctx *r = ctx;
    rk_spool_config cfg;
    rk_agent_t *agent = NULL;
    char why[PATH_MAX + 200] = "";
    int rc, locks[2];

    if ((rc = begin(a, r)) != 0)
        return rc;
    if (a->npos != 0)
        return usage_error("spool takes no arguments besides its options");
    if (a->value[OPT_SPOOL_DIR] == NULL)
        return usage_error("spool needs --spool-dir DIR");
    if ((rc = check_needs(&r->o, "spool", NEED_KEY | NEED_HUB_KEY | NEED_DATA)) != 0)
        return rc;
    /* before the agent connects as this organization's receiver */
    if (mkdir(r->o.data, 0700) != 0 && errno != EEXIST) {
        err_msg("cannot create the data directory %s: %s", r->o.data, strerror(errno));
        return EXIT_ERR;
    }
    if (!rk_spool_lock(a->value[OPT_SPOOL_DIR], r->o.data, locks, why, sizeof why)) {
        err_msg("%s", why);
        return EXIT_ERR;
    }
    if ((rc = open_for_send(&r->o, true, &agent)) != 0) {
        rk_spool_unlock(locks);
        return rc;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = a->value[OPT_SPOOL_DIR];
    cfg.data_dir = r->o.data;
    cfg.number_rule = r->o.number_rule;
    cfg.log = http_log;
    cfg.connect = http_connect;
    cfg.keep_days = r->o.days;
    rc = rk_spool_run(agent, &cfg, &stop_requested) == 0 ? 0 : EXIT_ERR;
    rk_agent_close(&agent);
    rk_spool_unlock(locks);
    return rc;
}

#define NUMBER_HELP                                                                       \
    "The resident's number (NUMBER) is read from standard input, or from FILE with\n"     \
    "--person-file FILE; never from the command line, where every user of this machine\n" \
    "can read it (a number given there is refused, exit 2).\n"

static const rk_cli_cmd_t cli_commands[] = {
    {"enroll", "", "(municipalities) a new link code for NUMBER from the hub, printed",
     "Records the new code locally and prints it.  NUMBER never leaves the agent: only\n"
     "link codes go to the hub.\n" NUMBER_HELP,
     person_opts, run_lookup_enroll},
    {"bind", "CODE", "record CODE (received at first contact) for NUMBER", NUMBER_HELP, person_opts,
     run_bind},
    {"lookup", "", "this organization's link code for NUMBER (no hub needed)", NUMBER_HELP, person_opts,
     run_lookup_enroll},
    {"unenroll", "", "withdraw NUMBER's link code from the local table; prints it",
     "Removes NUMBER and its link code from this agent's table and prints the code.\n"
     "The hub is not asked and keeps the code: enrolling NUMBER again gets a new\n"
     "code from the hub, and 'renkei-agent bind CODE' with the printed code undoes\n"
     "this.  Messages already sent stay in the outbox under the code.\n" NUMBER_HELP,
     person_opts, run_unenroll},
    {"rebind", "--person-file OLD --new-person-file NEW",
     "correct a mistyped number: move OLD's link code to NEW",
     "Moves the link code recorded for the number in OLD to the corrected number in\n"
     "NEW, in one transaction; refused, with nothing changed, if NEW already has a\n"
     "code or OLD has none.  One of OLD and NEW may be -, standard input.\n",
     rebind_opts, run_rebind},
    {"send",
     "--to ORG --type TYPE (--person-file FILE | --code HEX) [--payload FILE|-] [--reply-to MSGID] "
     "[--no-wait | --no-reply]",
     "send a JSON payload about NUMBER and print the reply as one JSON line",
     "The payload comes from standard input (or --payload FILE); the person is NUMBER (or\n"
     "the person of link code HEX).  The message is kept in the outbox first and re-sent\n"
     "until the hub takes it; prints the reply as one JSON line.  --reply-to makes it the\n"
     "answer to MSGID, e.g. a move.in.notice answering a move.out.notice.\n"
     "send reads its payload from standard input, so give it the number as\n"
     "--person-file FILE (in bash, --person-file <(printf '%s\\n' \"$NUMBER\")), or the\n"
     "payload as --payload FILE and the number on standard input with --person.\n",
     send_opts, run_send},
    {"serve",
     "[--exec CMD [--exec-timeout SECS] [--exec-parallel N] [--exec-retries N] | --webhook URL "
     "[--webhook-token-file FILE] [--webhook-timeout SECS] [--webhook-parallel N] [--webhook-retries N]] "
     "[--count N]",
     "receive messages; print them, hand each to CMD or POST it to URL",
     "Prints each message as a JSON line, or hands each request to /bin/sh -c CMD on\n"
     "standard input; re-sends pending messages.  CMD's exit says what happens:\n"
     "0: its JSON output is the reply; 3: refused, its output is the reason the sender\n"
     "sees (REFUSED_BY_RECIPIENT; a short business reason, never personal data);\n"
     "4: taken, answered later with renkei-agent reply; anything else, a signal or\n"
     "the timeout: run again later (--exec-retries), then DEAD in the inbox.\n"
     "--webhook URL POSTs each request to URL instead; its answer says the same:\n"
     "2xx {\"reply\": VALUE}: the reply; 2xx {\"refuse\": \"REASON\"}: refused; 202:\n"
     "answered later; 2xx {} or empty: taken, no reply; anything else: tried again\n"
     "(--webhook-retries), then DEAD.  status lists DEAD requests; retry hands them\n"
     "out again.  See README.md, Webhooks.\n",
     serve_opts, run_serve},
    {"reply", "--from ORG --to-msg MSGID ([--payload FILE|-] | --refuse REASON)",
     "answer a request taken earlier (e.g. by serve --exec, exit 4)",
     "Sends the JSON payload (standard input, or --payload FILE) as the reply to request\n"
     "MSGID from ORG in the inbox, or refuses it with --refuse REASON.\n",
     reply_opts, run_reply},
    {"status", "[MSGID | --person | --person-file FILE | --all]", "messages sent and what became of them",
     "The open ones, one in detail (MSGID or a unique prefix), those about NUMBER, or all;\n"
     "then the requests received that serve --exec / --webhook could not hand over:\n"
     "being retried (attempts, next try, last error) or DEAD.\n",
     status_opts, run_status},
    {"retry", "--from ORG --msg MSGID | --all-dead", "hand a DEAD request out again",
     "Puts the request MSGID from ORG (or every DEAD one) back in the inbox to be handed\n"
     "out; a running serve takes it at once, its attempts counted from 0.\n",
     retry_opts, run_retry},
    {"flush", "", "re-send the messages the hub has not accepted yet", NULL, NULL, run_flush},
    {"directory", "", "print the hub's signed list of organizations", NULL, NULL, run_directory},
    {"procedures", "", "the procedure types this organization may send and receive (the hub's catalogue)",
     NULL, NULL, run_procedures},
    {"receipt", "MSGID [--out FILE]", "proof that the hub put message MSGID on its routing log",
     "Checks the hub-signed checkpoint and the inclusion proof of the entry of message\n"
     "MSGID (or a unique prefix); --out keeps the receipt in FILE.\n",
     receipt_opts, run_receipt},
    {"disclose", "", "(municipalities) the routing-log entries about NUMBER", NUMBER_HELP, person_opts,
     run_disclose},
    {"http", "--listen ADDR --token-file FILE [--lease SECS] [--tls-cert FILE --tls-key FILE]",
     "serve the local HTTP/JSON API: send, follow, receive and answer messages",
     "A local gateway for systems that do not link C: every request needs the header\n"
     "Authorization: Bearer TOKEN (TOKEN: the token file's line); POST /v1/messages sends\n"
     "{\"to\",\"type\",\"person\",\"payload\"} with an Idempotency-Key header; GET\n"
     "/v1/messages/ID tells its state; POST /v1/messages/search {\"person\"} lists those\n"
     "about a person; GET /v1/inbox?wait=SECS hands out the next delivered message,\n"
     "answered with POST /v1/inbox/FROM/MSGID/reply, /refuse or /done.  Pending messages\n"
     "are re-sent.  --tls-cert and --tls-key serve HTTPS.  See README.md.\n",
     http_opts, run_http},
    {"spool", "--spool-dir DIR", "send the files a batch system drops in DIR/out; receive into DIR/in",
     "A batch system writes DIR/out/NAME.json.tmp and renames it to DIR/out/NAME.json\n"
     "({\"to\",\"type\",\"person\",\"payload\"}); the agent moves it to DIR/work/, sends\n"
     "it once (NAME is the idempotency key, also across restarts), writes\n"
     "DIR/results/NAME.result.json and moves the file to DIR/done/, or moves an\n"
     "invalid file to DIR/rejected/ with NAME.reason.txt.  Each message received is\n"
     "written to DIR/in/ once; a file {\"reply_to\",\"to\",\"payload\"} in DIR/out\n"
     "answers a request (or \"refuse\": REASON refuses it).  done/ and results/ are\n"
     "purged after --keep-days.  One spool per folder and data directory (a second\n"
     "one: exit 1).  Pending messages are re-sent.  See README.md.\n",
     spool_opts, run_spool},
    {"purge", "", "delete completed messages older than --keep-days now",
     "Prints how many went.  The agent also does this by itself, once a minute.\n", NULL, run_purge},
};

static const rk_cli_prog_t cli_program = {
    .name = PROG,
    .about = "An organization's command line to the Renkei hub.",
    .opts = cli_options,
    .n_opts = N_OPTS,
    .globals = cli_globals,
    .cmds = cli_commands,
    .n_cmds = sizeof cli_commands / sizeof cli_commands[0],
    .epilog = "The resident's number is never an argument: every user of this machine can read a\n"
              "command line, so a number given there is refused (exit 2).  enroll, bind, lookup,\n"
              "disclose and status --person read it from stdin (renkei-agent lookup <<<\"$NUMBER\"),\n"
              "or from FILE with --person-file FILE.  send reads its payload from stdin, so give it\n"
              "the number as --person-file FILE (in bash, --person-file <(printf '%s\\n' \"$NUMBER\")),\n"
              "or the payload as --payload FILE and the number on stdin with --person.  One number\n"
              "on one line: a trailing newline is dropped.  By default (--number-rule mynumber) it\n"
              "must be a My Number: 12 digits (full-width digits, spaces and hyphens are allowed\n"
              "and dropped) whose last digit is the check digit of the other 11; otherwise it is\n"
              "refused (exit 2) with what is wrong, never the number.  With --number-rule any\n"
              "(or RENKEI_NUMBER_RULE=any) it is taken as it is: an empty number, or one with\n"
              "spaces or other non-printable characters, is refused.\n"
              "\n"
              "Exit status: 0 ok, 1 error, 2 usage, 3 refused by the hub or the recipient,\n"
              "4 timed out waiting, 5 pending: kept in the outbox, re-sent automatically,\n"
              "6 receipt not verified in full (the hub did not provide the entry),\n"
              "7 the routing log does not prove it (tampered log or checkpoint, or the wrong hub key).\n",
};

int main(int argc, char **argv)
{
    run_ctx r;
    rk_cli_args_t a;
    int rc;

    rk_harden_process(argv, &harden); /* first: may re-execute once */
    memset(&r, 0, sizeof r);
    rc = rk_cli_parse(&cli_program, argc, argv, &a);
    if (rc == RK_CLI_HELP) {
        rc = RK_EXIT_OK;
    } else if (rc == 0) {
        rc = a.cmd->run(&a, &r);
    } else if ((a.err == RK_CLI_E_FLAG_VALUE && a.err_opt == OPT_PERSON) ||
               (a.err == RK_CLI_E_UNKNOWN_CMD && a.count[OPT_PERSON] > 0)) {
        /* --person=NUMBER, or --person NUMBER before the command: the
         * number is refused, and not repeated */
        rc = refuse_person_arg(a.cmd != NULL ? a.cmd->name : "");
    } else if (a.err != RK_CLI_E_NONE) {
        rc = rk_cli_report(&a);
    }
    rk_cli_args_free(&a);
    sodium_memzero(r.person, sizeof r.person);
    sodium_memzero(r.new_person, sizeof r.new_person);
    return rc;
}
