/*
 * codebook.h - an agent's own table of person numbers and link codes.
 *
 * Two LMDB tables in the agent's data directory: "persons" (PERSON -> code)
 * and "codes" (code -> PERSON).  Both are written in one transaction, so a
 * pair is always recorded in both directions or not at all.  The table is
 * this organization's own: nothing in it leaves the agent.
 */
#ifndef RENKEI_AGENT_CODEBOOK_H
#define RENKEI_AGENT_CODEBOOK_H

#include <stddef.h>
#include <stdint.h>

#include "renkei/agent.h"

typedef struct rk_codebook rk_codebook_t;

#define RK_CODEBOOK_MAP_SIZE ((size_t)1 << 30) /* 1 GiB, sparse */
#define RK_CODEBOOK_MAX_DBS 16 /* named tables in the environment (the mailbox adds its own) */

struct MDB_env;

/* Opens (creating if needed) the table in dir; dir is created 0700 if it
 * does not exist.  On failure *out is NULL and why says what went wrong. */
rk_agent_err rk_codebook_open(const char *dir, size_t map_size, rk_codebook_t **out, char *why,
                              size_t why_len) RK_WARN_UNUSED;

/* The LMDB environment, for other tables of the same data directory (one
 * environment per process and directory, as LMDB requires).  Owned by cb. */
struct MDB_env *rk_codebook_env(rk_codebook_t *cb);

/* Closes the table; accepts NULL and sets *cb to NULL. */
void rk_codebook_close(rk_codebook_t **cb);

/* The code recorded for person.  RK_AGENT_ENOTFOUND if none. */
rk_agent_err rk_codebook_code(rk_codebook_t *cb, const char *person, uint8_t code[RK_CODE_LEN],
                              char *why, size_t why_len) RK_WARN_UNUSED;

/* The person recorded for code, as a new string in *person (free it with
 * rk_codebook_free_person).  RK_AGENT_ENOTFOUND if none; *person NULL then. */
rk_agent_err rk_codebook_person(rk_codebook_t *cb, const uint8_t code[RK_CODE_LEN], char **person,
                                char *why, size_t why_len) RK_WARN_UNUSED;

/* Wipes and frees a string from rk_codebook_person; accepts NULL. */
void rk_codebook_free_person(char **person);

/* Records person <-> code in both tables.  The same pair again is OK;
 * RK_AGENT_ECONFLICT if person has another code or code another person.
 * Nothing is written on failure. */
rk_agent_err rk_codebook_bind(rk_codebook_t *cb, const char *person, const uint8_t code[RK_CODE_LEN],
                              char *why, size_t why_len) RK_WARN_UNUSED;

/* Removes person and its code from both tables, the code removed into
 * code (may be NULL).  RK_AGENT_ENOTFOUND if person has none.  Nothing is
 * removed on failure. */
rk_agent_err rk_codebook_unbind(rk_codebook_t *cb, const char *person, uint8_t code[RK_CODE_LEN], char *why,
                                size_t why_len) RK_WARN_UNUSED;

/* Moves the code of old_person to new_person in one transaction: after it
 * old_person has no code and new_person has old_person's.
 * RK_AGENT_ENOTFOUND if old_person has no code, RK_AGENT_ECONFLICT if
 * new_person already has one, RK_AGENT_EINVAL if the two are the same.
 * Nothing is written on failure. */
rk_agent_err rk_codebook_rebind(rk_codebook_t *cb, const char *old_person, const char *new_person, char *why,
                                size_t why_len) RK_WARN_UNUSED;

#endif /* RENKEI_AGENT_CODEBOOK_H */
