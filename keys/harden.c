/*
 * harden.c - keeping a process's secrets out of core files and freed memory.
 */
#include "harden.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define STR_(x) #x
#define STR(x) STR_(x)

/* Appended to GLIBC_TUNABLES for the re-executed program. */
#define WIPE_TUNABLES "glibc.malloc.tcache_count=0:glibc.malloc.perturb=" STR(RK_HARDEN_PERTURB)

/* Set only between the re-execution and its check: "-" if GLIBC_TUNABLES
 * was unset before, "+VALUE" if it held VALUE. */
#define REEXEC_MARK "RENKEI_HARDEN_REEXEC"

#if defined(__SANITIZE_ADDRESS__)
#define RK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RK_ASAN 1
#endif
#endif

#ifdef RK_ASAN
/* AddressSanitizer replaces glibc's allocator and ignores its tunables;
 * its own option fills every freed block.  ASAN_OPTIONS still wins. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "max_free_fill_size=2147483647:free_fill_byte=" STR(RK_HARDEN_PERTURB);
}
#endif

/* Adds one sentence to h->why. */
static void add_why(rk_harden_t *h, const char *text)
{
    size_t used = strlen(h->why);
    snprintf(h->why + used, sizeof h->why - used, "%s%s", used > 0 ? "; " : "", text);
}

#ifndef RK_ASAN
/* Puts GLIBC_TUNABLES back as the mark says it was. */
static void restore_tunables(const char *mark)
{
    if (mark[0] == '+')
        setenv("GLIBC_TUNABLES", mark + 1, 1);
    else
        unsetenv("GLIBC_TUNABLES");
}

/* In the re-executed program: whether the tunables arrived, then the
 * environment as it was before. */
static void check_reexec(const char *mark, rk_harden_t *h)
{
    const char *now = getenv("GLIBC_TUNABLES");
    const char *before = mark[0] == '+' ? mark + 1 : NULL;
    size_t blen = before != NULL ? strlen(before) : 0;
    char *saved = strdup(mark);

    if (now != NULL &&
        (before == NULL || blen == 0 ? strcmp(now, WIPE_TUNABLES) == 0
                                     : strncmp(now, before, blen) == 0 && now[blen] == ':' &&
                                           strcmp(now + blen + 1, WIPE_TUNABLES) == 0))
        h->wipes_freed = true;
    else
        add_why(h, "GLIBC_TUNABLES did not reach the re-executed program");
    if (saved != NULL) {
        restore_tunables(saved);
        free(saved);
    }
    unsetenv(REEXEC_MARK);
}

/* Re-executes the program with the tunables; returns only if it cannot. */
static void reexec(char **argv, rk_harden_t *h)
{
    const char *before = getenv("GLIBC_TUNABLES");
    size_t blen = before != NULL ? strlen(before) : 0;
    char *value = malloc(blen + sizeof WIPE_TUNABLES + 1);
    char *mark = malloc(blen + 2), text[160];
    int err;

    if (value == NULL || mark == NULL) {
        free(value);
        free(mark);
        add_why(h, "out of memory");
        return;
    }
    if (blen > 0)
        snprintf(value, blen + sizeof WIPE_TUNABLES + 1, "%s:%s", before, WIPE_TUNABLES);
    else
        snprintf(value, blen + sizeof WIPE_TUNABLES + 1, "%s", WIPE_TUNABLES);
    snprintf(mark, blen + 2, "%s%s", before != NULL ? "+" : "-", before != NULL ? before : "");
    if (setenv(REEXEC_MARK, mark, 1) == 0 && setenv("GLIBC_TUNABLES", value, 1) == 0) {
        fflush(NULL);
        execv("/proc/self/exe", argv);
    }
    err = errno;
    restore_tunables(mark);
    unsetenv(REEXEC_MARK);
    free(value);
    free(mark);
    snprintf(text, sizeof text, "cannot re-execute /proc/self/exe with GLIBC_TUNABLES: %s", strerror(err));
    add_why(h, text);
}
#endif

void rk_harden_process(char **argv, rk_harden_t *h)
{
    struct rlimit none = {0, 0};
    char text[160];

    memset(h, 0, sizeof *h);
#ifdef RK_ASAN
    (void)argv;
    h->wipes_freed = true; /* __asan_default_options */
#else
    {
        const char *mark = getenv(REEXEC_MARK);
        if (mark != NULL && (mark[0] == '+' || mark[0] == '-'))
            check_reexec(mark, h);
        else
            reexec(argv, h);
    }
#endif
    /* After the exec, which makes a program dumpable again. */
    if (setrlimit(RLIMIT_CORE, &none) != 0) {
        snprintf(text, sizeof text, "cannot set the core file size limit to 0: %s", strerror(errno));
        add_why(h, text);
    } else if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        snprintf(text, sizeof text, "cannot make the process non-dumpable: %s", strerror(errno));
        add_why(h, text);
    } else {
        h->not_dumpable = true;
    }
}

const char *rk_harden_describe(const rk_harden_t *h, char *buf, size_t len)
{
    snprintf(buf, len, "%s; %s%s%s",
             h->not_dumpable ? "not dumpable (no core file, no ptrace by its user)" : "dumpable",
             h->wipes_freed ? "freed memory wiped" : "freed memory NOT wiped", h->why[0] ? ": " : "", h->why);
    return buf;
}
