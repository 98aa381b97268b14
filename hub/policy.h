/*
 * policy.h - whether the procedure catalogue lets one organization send a
 * procedure type to another, and how such a message may reach a person its
 * recipient might not know.
 *
 * The catalogue (catalogue.h) is data.  The rule that keeps the hub from
 * becoming an oracle: whether a message is accepted may depend only on what
 * its sender already knows.  So a message may reach a person only in one of
 * two ways:
 *   - as a request of a type that may introduce the person (the hub issues
 *     the recipient a code if it has none: accepted either way), or
 *   - as an answer (reply_to set): a reply of the same type, or a follow-up
 *     of a type that follows it, to an open message that the recipient
 *     itself sent to this sender about this same person.
 * The catalogue refuses a type that neither introduces nor follows.  A
 * reply travels the opposite way of its request and never introduces a
 * person.  Every check here reads only the catalogue, the type and the two
 * organizations: never the person.
 */
#ifndef RENKEI_HUB_POLICY_H
#define RENKEI_HUB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalogue.h"
#include "wire.h"

#define POLICY_RULE_MAX 320

/* What the policy decided for one message. */
typedef struct policy_verdict {
    rk_status status;    /* RK_ST_ACCEPTED, RK_ST_UNKNOWN_TYPE or RK_ST_NOT_PERMITTED */
    bool introduces;     /* a first-contact code may be issued */
    const char *answers; /* non-NULL: reply_to must name an open message of this type
                          * that the recipient sent to the sender about the same person
                          * (points into the catalogue) */
    bool answerable;     /* a request others may answer: keep its (request, person) binding */
    bool moves;          /* sent by the current municipality, it makes the recipient the
                          * current one (disclosure, see audit.h) */
    char rule[POLICY_RULE_MAX]; /* a refusal: the rule that refused, in words */
} policy_verdict_t;

#define POLICY_DEFAULT_TTL_MS CATALOGUE_DEFAULT_TTL_MS
#define POLICY_TTL_OVERRIDES 16

/* How long messages wait for their recipient: the catalogue's ttl of each
 * type, unless the hub's configuration overrides it. */
typedef struct policy_ttl {
    uint64_t default_ms;    /* for a type the catalogue does not (or no longer) hold */
    const catalogue_t *cat; /* NULL: no catalogue ttl */
    size_t n;
    struct {
        char type[RK_TYPE_MAX + 1];
        uint64_t ms;
    } over[POLICY_TTL_OVERRIDES];
} policy_ttl_t;

/* Sets ttl to the default for every type, no catalogue, no overrides. */
void policy_ttl_init(policy_ttl_t *ttl);
/* Overrides the time-to-live of one type (a valid name); false if the name
 * is not valid, ms is 0 or the table is full. */
bool policy_ttl_set(policy_ttl_t *ttl, const char *type, uint64_t ms) __attribute__((warn_unused_result));
/* The time-to-live of type. */
uint64_t policy_ttl_of(const policy_ttl_t *ttl, const char *type);

/* One side of a message: an organization's id and kind. */
typedef struct policy_party {
    const char *id;
    org_kind kind;
} policy_party_t;

/* Decides whether org `from` may send `type` to org `to`, as an answer to
 * another message if has_reply_to.  Fills *v; its status is
 * RK_ST_ACCEPTED, RK_ST_UNKNOWN_TYPE or RK_ST_NOT_PERMITTED, and a refusal
 * names the rule in v->rule.  The hub decides with it, and an agent checks
 * with it before sending, against the catalogue the directory carries. */
void policy_check(const catalogue_t *cat, const char *type, policy_party_t from, policy_party_t to,
                  bool has_reply_to, policy_verdict_t *v);

#endif /* RENKEI_HUB_POLICY_H */
