/*
 * state.c - the auditor's remembered checkpoint.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "filter.h"
#include "why.h"

#define STATE_MAX 4096

/* Parses one "name: value" line of the state file into st; *seen gets a
 * bit per field. */
static int parse_line(char *line, audit_state_t *st, unsigned *seen)
{
    char *colon = strchr(line, ':'), *val;
    if (colon == NULL)
        return -1;
    *colon = '\0';
    val = colon + 1;
    while (*val == ' ')
        val++;
    if (strcmp(line, "renkei-audit-state") == 0) {
        if (strcmp(val, "1") != 0)
            return -1;
        *seen |= 1;
    } else if (strcmp(line, "origin") == 0) {
        if (val[0] == '\0' || strlen(val) > TLOG_NAME_MAX)
            return -1;
        snprintf(st->origin, sizeof st->origin, "%s", val);
        *seen |= 2;
    } else if (strcmp(line, "size") == 0) {
        char *end;
        if (val[0] < '0' || val[0] > '9')
            return -1;
        errno = 0;
        st->cp.size = strtoull(val, &end, 10);
        if (errno != 0 || *end != '\0' || st->cp.size > TLOG_MAX_SIZE)
            return -1;
        *seen |= 4;
    } else if (strcmp(line, "root") == 0) {
        size_t n = 0;
        if (strlen(val) != 2 * (size_t)TLOG_HASH_LEN ||
            sodium_hex2bin(st->cp.root, sizeof st->cp.root, val, strlen(val), NULL, &n, NULL) != 0 ||
            n != TLOG_HASH_LEN)
            return -1;
        *seen |= 8;
    } else if (strcmp(line, "time") == 0) {
        int64_t ms;
        if (!audit_time_parse(val, false, &ms))
            return -1;
        st->cp.time = ms / 1000;
        *seen |= 16;
    } else if (strcmp(line, "hub-key") == 0 || strcmp(line, "hub-key-latest") == 0) {
        bool latest = strcmp(line, "hub-key-latest") == 0;
        uint8_t *key = latest ? st->hub_key_latest : st->hub_key;
        size_t n = 0;
        if (sodium_base642bin(key, 32, val, strlen(val), NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) !=
                0 ||
            n != 32)
            return -1;
        if (latest)
            st->has_hub_key_latest = true;
        else
            st->has_hub_key = true;
    }
    /* unknown fields are ignored (a later version may add some) */
    return 0;
}

audit_state_err audit_state_load(const char *path, audit_state_t *st, char *why, size_t why_len)
{
    char buf[STATE_MAX + 1], *line, *save = NULL;
    unsigned seen = 0;
    size_t n;
    FILE *f;

    memset(st, 0, sizeof *st);
    f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT) {
            rk_why(why, why_len, "%s does not exist", path);
            return AUDIT_STATE_ENOENT;
        }
        rk_why(why, why_len, "cannot read the state file %s: %s", path, strerror(errno));
        return AUDIT_STATE_EIO;
    }
    n = fread(buf, 1, STATE_MAX + 1, f);
    if (ferror(f)) {
        rk_why(why, why_len, "cannot read the state file %s: %s", path, strerror(errno));
        fclose(f);
        return AUDIT_STATE_EIO;
    }
    fclose(f);
    if (n > STATE_MAX)
        goto bad;
    buf[n] = '\0';
    for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        if (l > 0 && line[l - 1] == '\r')
            line[--l] = '\0';
        if (l == 0 || line[0] == '#')
            continue;
        if (parse_line(line, st, &seen) != 0)
            goto bad;
    }
    if (seen != 31)
        goto bad;
    return AUDIT_STATE_OK;
bad:
    memset(st, 0, sizeof *st);
    rk_why(why, why_len,
           "%s is not a renkei-audit state file or is damaged; move it aside to start over (the next "
           "verify then trusts the hub's newest checkpoint afresh)",
           path);
    return AUDIT_STATE_EFORMAT;
}

audit_state_err audit_state_save(const char *path, const audit_state_t *st, char *why, size_t why_len)
{
    char tmp[4096], text[STATE_MAX], root[2 * TLOG_HASH_LEN + 1], t[32];
    char key[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    char latest[sizeof key];
    int fd, len;

    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        rk_why(why, why_len, "state file path too long: %s", path);
        return AUDIT_STATE_EIO;
    }
    sodium_bin2hex(root, sizeof root, st->cp.root, sizeof st->cp.root);
    audit_time_format(st->cp.time * 1000, false, t);
    sodium_bin2base64(key, sizeof key, st->hub_key, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(latest, sizeof latest, st->hub_key_latest, 32, sodium_base64_VARIANT_ORIGINAL);
    len =
        snprintf(text, sizeof text,
                 "renkei-audit-state: 1\n"
                 "# the last routing-log checkpoint this auditor verified (written by renkei-audit verify)\n"
                 "origin: %s\nsize: %llu\nroot: %s\ntime: %s\n"
                 "%s%s%s%s%s%s",
                 st->origin, (unsigned long long)st->cp.size, root, t, st->has_hub_key ? "hub-key: " : "",
                 st->has_hub_key ? key : "", st->has_hub_key ? "\n" : "",
                 st->has_hub_key_latest ? "hub-key-latest: " : "", st->has_hub_key_latest ? latest : "",
                 st->has_hub_key_latest ? "\n" : "");
    if (len < 0 || len >= (int)sizeof text) {
        rk_why(why, why_len, "state too long");
        return AUDIT_STATE_EIO;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        rk_why(why, why_len, "cannot write the state file next to %s: %s", path, strerror(errno));
        return AUDIT_STATE_EIO;
    }
    if (fchmod(fd, 0600) != 0 || write(fd, text, (size_t)len) != len || fsync(fd) != 0) {
        rk_why(why, why_len, "cannot write the state file %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return AUDIT_STATE_EIO;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        rk_why(why, why_len, "cannot replace the state file %s: %s", path, strerror(errno));
        unlink(tmp);
        return AUDIT_STATE_EIO;
    }
    return AUDIT_STATE_OK;
}
