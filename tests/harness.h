/*
 * harness.h - run the real Renkei programs for integration tests.
 *
 * An it_env_t owns one temporary directory laid out as
 *   keys/      every party's NAME.key / NAME.pub (made by renkei-keygen)
 *   master.key the hub's master key (outside the hub's data dir)
 *   hub/       the hub's --data dir (LMDB)
 *   hub.log    the hub's stderr
 *   agents/ORG the agent data dir of each organization
 *   run/       captured stdout/stderr of every command: NNNN-PROG[-ORG].out/.err,
 *              NNNN-serve-ORG.out/.err for serve processes
 * and every process it started.  it_env_destroy() kills them all (process
 * group, TERM then KILL) and removes the directory, so a cmocka teardown that
 * calls it leaves nothing behind even when an assertion failed.  Children
 * also get SIGKILL if the test process itself dies (PR_SET_PDEATHSIG).
 *
 * Programs are found in $RENKEI_BIN_DIR.  All waits have a deadline.
 */
#ifndef RENKEI_TESTS_HARNESS_H
#define RENKEI_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct it_env it_env_t;

/* Outcome of one finished command.  out/err are the captured streams
 * (NUL-terminated, malloc'd); status is the exit code, or 128+signal, or
 * -1 if the command was killed for running past its deadline. */
typedef struct it_run {
    int status;
    char *out;
    char *err;
} it_run_t;

void it_run_clear(it_run_t *r);

/* A background process (hub or `renkei-agent serve`). */
typedef struct it_proc it_proc_t;

/* Creates the temporary directory, the hub's key pair and the master key.
 * Returns NULL (after printing why on stderr) if anything fails. */
it_env_t *it_env_new(void);

/* Kills every process still running, removes the directory, frees *env and
 * sets it to NULL.  Accepts NULL.  Set RENKEI_IT_KEEP=1 to keep the
 * directory for a post-mortem (its path is printed). */
void it_env_destroy(it_env_t **env);

const char *it_dir(const it_env_t *env);
/* Path of a file inside the temporary directory (static per env, valid
 * until the next it_path call on the same env: copy if you keep it). */
const char *it_path(it_env_t *env, const char *rel);
const char *it_hub_data(const it_env_t *env);
const char *it_hub_log_path(const it_env_t *env);
const char *it_master_path(const it_env_t *env);

/* Runs renkei-keygen -o keys NAME.  0 on success. */
int it_keygen(it_env_t *env, const char *name);

/* Runs BIN_DIR/prog with argv (NULL-terminated, not including argv[0]),
 * stdin from `input` (NULL: /dev/null), waiting at most timeout_s. */
int it_run(it_env_t *env, const char *prog, const char *const *argv, const char *input,
           int timeout_s, it_run_t *r);

/* renkei-ctl -d HUBDATA args...  (NULL-terminated variadic list of strings). */
int it_ctl(it_env_t *env, it_run_t *r, ...) __attribute__((sentinel));

/* keygen + renkei-ctl register ORG --kind KIND --pub keys/ORG.pub.
 * 0 on success; prints renkei-ctl's stderr on failure. */
int it_org(it_env_t *env, const char *org, const char *kind);

/* Starts renkei-hub (--bind tcp://127.0.0.1:* --ready-file) with its stderr
 * in hub.log and extra arguments (NULL-terminated, may be empty), and waits
 * up to 15 s for the ready file.  0 on success. */
int it_hub_start(it_env_t *env, const char *const *extra);
/* it_hub_start binding ENDPOINT instead of a free port. */
int it_hub_start_at(it_env_t *env, const char *bind, const char *const *extra);
/* The endpoint the hub wrote into its ready file ("" before start). */
const char *it_hub_endpoint(const it_env_t *env);
/* SIGTERM to the hub, waits up to 10 s; returns its exit status or -1. */
int it_hub_stop(it_env_t *env);
/* The running hub's process id (-1 before it_hub_start). */
pid_t it_hub_pid(const it_env_t *env);
/* The hub log so far (malloc'd, never NULL unless out of memory). */
char *it_hub_log(it_env_t *env);
/* Polls the hub log for up to timeout_ms until it contains needle. */
bool it_hub_log_wait(it_env_t *env, const char *needle, int timeout_ms);
/* How many times the hub log so far contains needle. */
size_t it_hub_log_count(it_env_t *env, const char *needle);
/* Polls the hub log for up to timeout_ms until it contains needle at least
 * n times. */
bool it_hub_log_wait_count(it_env_t *env, const char *needle, size_t n, int timeout_ms);

/* renkei-agent -H EP -K keys/hub.pub -k keys/ORG.key -d agents/ORG -t 10 args...
 * stdin from `input` (NULL: empty).  Returns the exit status (see it_run). */
int it_agent(it_env_t *env, const char *org, const char *input, it_run_t *r, ...)
    __attribute__((sentinel));
/* Same with an explicit argv (NULL-terminated). */
int it_agentv(it_env_t *env, const char *org, const char *input, const char *const *args,
              it_run_t *r);

/* Starts `renkei-agent ... serve [--exec CMD] [--count N]` for org in the
 * background (count <= 0: no --count) and waits up to 15 s for "serving as"
 * on its stderr.  Returns NULL (the process is killed) if it never says so. */
it_proc_t *it_serve_start(it_env_t *env, const char *org, const char *exec_cmd, int count);
/* Same with the arguments after "serve" given (NULL-terminated). */
it_proc_t *it_serve_startv(it_env_t *env, const char *org, const char *const *extra);
/* Waits up to timeout_s for the process to exit by itself; returns its
 * status (as it_run) or -1 on timeout (the process keeps running). */
int it_proc_wait(it_proc_t *p, int timeout_s);
/* SIGTERM, wait up to 5 s, then SIGKILL.  Returns the exit status. */
int it_proc_stop(it_proc_t *p);
/* Captured streams so far (malloc'd). */
char *it_proc_out(const it_proc_t *p);
char *it_proc_err(const it_proc_t *p);
pid_t it_proc_pid(const it_proc_t *p);

/* Whole file as a NUL-terminated malloc'd buffer (*len without the NUL);
 * NULL if it cannot be read. */
char *it_slurp(const char *path, size_t *len);
/* true if any regular file under dir (recursively) contains needle bytes. */
bool it_tree_contains(const char *dir, const void *needle, size_t len, char *where,
                      size_t where_len);
/* Writes text to path (creating, truncating).  0 on success. */
int it_write_file(const char *path, const char *text);
/* Writes person (a resident's number) and a newline to a new file
 * run/NNNN.person that only its owner may read, for renkei-agent
 * --person-file; its path into path.  0 on success. */
int it_person_file(it_env_t *env, const char *person, char *path, size_t path_len);

/* Trims trailing whitespace in place; returns s. */
char *it_chomp(char *s);
/* Sleeps ms milliseconds. */
void it_sleep_ms(int ms);
/* How often needle stands in hay (NULL: 0). */
size_t it_count(const char *hay, const char *needle);
/* Waits up to timeout_s for n occurrences of needle on p's stderr. */
bool it_err_wait(it_proc_t *p, const char *needle, size_t n, int timeout_s);
/* A new directory NAME in the environment's folder (made if missing); its
 * path, valid until the next call.  Fails the test if it cannot be made. */
const char *it_subdir(it_env_t *env, const char *name);
/* A TCP port on 127.0.0.1 nobody listens on now (bound and released). */
int it_free_port(void);
/* A new environment with municipality city.x and utility power
 * registered, the hub started, number enrolled by city.x and written to a
 * --person-file (its path in person).  0, or -1 (said on stderr). */
int it_city_power(it_env_t **env, const char *number, char *person, size_t person_len);


/* ------------------------------------------------------------------ the move
 * Seed 004 through the command line: city.x and town.y (municipalities),
 * power, gas and water (utilities).  Each utility serves with a back-office
 * command that appends its stdin to out/ORG.in and one line
 * "TYPE FROM CODE FIRST_CONTACT" (from the RENKEI_* environment) to
 * out/ORG.env, and replies {"result":"done","by":"ORG"}. */

#define IT_PERSON "TEST-0001-MOVE"
#define IT_NUTIL 3

extern const char *const it_utilities[IT_NUTIL];

typedef struct it_reply {
    int status;            /* renkei-agent send exit status */
    char code[40];         /* "code" in the reply line: the sender's own code */
    char from[80];         /* "from" in the reply line */
    char type[80];
    char msg_id[80];       /* msg id printed on "accepted: ..." */
    char reply_to[80];     /* "reply_to" in the reply line */
    char result[40];       /* payload.result */
} it_reply_t;

typedef struct it_seen {   /* one delivery as a utility's back-office saw it */
    char type[80];
    char from[80];
    char code[40];
    int first_contact;     /* 0/1, -1 if missing */
} it_seen_t;

typedef struct it_move {
    char code_x[40];       /* city.x's code (enroll) */
    char code_y[40];       /* town.y's code (move.out.notice delivery) */
    char lookup_y[40];     /* town.y's lookup after bind */
    int notice_first_contact;
    char notice_from[80];
    char notice_type[80];
    bool notice_has_person;
    it_reply_t stop[IT_NUTIL], start[IT_NUTIL];
    it_seen_t seen_stop[IT_NUTIL], seen_start[IT_NUTIL];
    int nseen[IT_NUTIL];   /* lines in out/ORG.env */
    it_proc_t *serve[IT_NUTIL];
    char *town_serve_out;  /* town.y's serve --count 1 stdout (malloc'd) */
} it_move_t;

void it_move_clear(it_move_t *m);

/* Registers the five organizations, starts the hub and the three utility
 * serve processes.  0 on success, else -1 with why. */
int it_move_setup(it_env_t *env, it_move_t *m, char *why, size_t why_len);

/* Runs the move (enroll, three stops, the notice, bind, three starts) and
 * records what everyone saw.  0 if every command succeeded, else -1 with
 * why naming the first step that failed. */
int it_move_run(it_env_t *env, it_move_t *m, char *why, size_t why_len);

/* ------------------------------------------------------------------ chaos
 * Processes started, killed and restarted at will. */

/* Starts BIN_DIR/prog (or prog itself when it is an absolute path) with
 * args (NULL-terminated) in the background, its output in
 * run/NNNN-PROG-LABEL.out/.err.  NULL on failure. */
it_proc_t *it_spawn(it_env_t *env, const char *prog, const char *const *args, const char *label);
/* true while p has not exited. */
bool it_proc_running(it_proc_t *p);
/* SIGKILL to p's process group; waits for it.  Returns its status. */
int it_proc_kill(it_proc_t *p);
/* SIGKILL to the hub (no chance to clean up); waits for it. */
int it_hub_kill(it_env_t *env);
/* Starts the hub again on the endpoint it had (same data dir), retrying
 * while the port is still held, up to 15 s.  0 on success. */
int it_hub_restart(it_env_t *env, const char *const *extra);

/* ------------------------------------------------------------------ it_load
 * The load generator (tests/it_load.c) for org, with --hub, --hub-key, --key
 * and --data (agents/ORG) filled in; extra is the rest (NULL-terminated). */

it_proc_t *it_load_start(it_env_t *env, const char *mode, const char *org, const char *const *extra);
int it_load_run(it_env_t *env, const char *mode, const char *org, const char *const *extra, int timeout_s,
                it_run_t *r);

typedef struct it_out_rec {   /* one outbox record ("it_load report") */
    char msg_id[33];
    char state[16];           /* PENDING, ACCEPTED, DELIVERED, ANSWERED, REFUSED, EXPIRED */
    char to[64];
    bool is_reply;
    char reply_to[33];        /* replies: the request answered */
    unsigned attempts;
    char status[32];          /* last status from the hub */
} it_out_rec_t;

typedef struct it_in_rec {    /* one inbox entry */
    char from[64];
    char msg_id[33];
    char reply_to[33];        /* "" for a request */
    char state[12];           /* NEW, CLAIMED, DONE */
} it_in_rec_t;

typedef struct it_report {
    it_out_rec_t *out;
    size_t n_out;
    it_in_rec_t *in;
    size_t n_in;
} it_report_t;

void it_report_clear(it_report_t *r);
/* Runs "it_load report" for org and parses it.  0 on success. */
int it_load_report(it_env_t *env, const char *org, it_report_t *r);

typedef struct it_load_stats {
    size_t sent;          /* requests in the senders' outboxes */
    size_t lines;         /* result lines the senders printed (out/ORG.ids) */
    size_t accepted;      /* ACCEPTED at the first try */
    size_t pending;       /* PENDING at the first try, ANSWERED in the end */
    size_t refused;       /* REFUSED at the first try */
    size_t unreported;    /* in an outbox without a line: the sender died before the result */
    size_t resent;        /* extra sends of requests (attempts - 1, summed) */
    size_t answered;      /* requests ANSWERED */
    size_t replies;       /* replies in the recipients' outboxes */
    size_t open;          /* requests not ANSWERED yet */
} it_load_stats_t;

/* Checks "nothing lost, nothing twice" over the agents' own LMDB files:
 * every request in each sender's outbox (and every ACCEPTED/PENDING line of
 * out/SENDER.ids) is ANSWERED with exactly one reply in the sender's inbox,
 * from the recipient it was sent to; each recipient's inbox holds every
 * request sent to it once, DONE, with exactly one reply in its outbox; no
 * inbox holds a message nobody sent.  With settle_s > 0, polls up to that
 * long for open requests to close first.  0 if all holds, else -1 with the
 * first violation in why.  st is filled either way. */
int it_load_verify(it_env_t *env, const char *const *senders, const char *const *recipients, int settle_s,
                   it_load_stats_t *st, char *why, size_t why_len);

/* A raw CURVE connection (tests/rawclient.h) of `org`, with its own key
 * from keys/, that said hello{receive} and was welcomed as org.  NULL (and
 * why on stderr) otherwise. */
struct rawclient *it_connect(it_env_t *env, const char *org, bool receive);

struct rk_pubkey;
/* Loads keys/ORG.pub into *pub.  0 on success (why on stderr otherwise). */
int it_pubkey(it_env_t *env, const char *org, struct rk_pubkey *pub);

/* From now on it_hub_start runs renkei-hub-faults (the daemon over a store
 * that fails on request, built for the tests only: hub/store.c,
 * RENKEI_STORE_FAULTS) with its faults file in the env's directory. */
void it_hub_faults(it_env_t *env);
/* Arms store faults: `spec` holds lines "OP TABLE ERROR COUNT" (see
 * hub/store.c); the hub's store takes them up at its next call.  0 on
 * success. */
int it_store_faults(it_env_t *env, const char *spec);
/* Waits until the hub's store has taken up the faults written last. */
bool it_store_faults_taken(it_env_t *env, int timeout_ms);

#endif /* RENKEI_TESTS_HARNESS_H */
