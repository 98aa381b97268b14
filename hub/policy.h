/*
 * policy.h - which procedure types exist, who may send them to whom, and
 * how a message of each type may reach a person its recipient might not know.
 *
 * The table is compiled in (proto/README.md lists it).  The rule that keeps
 * the hub from becoming an oracle: whether a message is accepted may depend
 * only on what its sender already knows.  So a message may reach a person
 * only in one of two ways:
 *   - as a request of a type that may introduce the person (the hub issues
 *     the recipient a code if it has none: accepted either way), or
 *   - as an answer (reply_to set): a reply of the same type, or a follow-up
 *     of a type that follows it, to an open message that the recipient
 *     itself sent to this sender about this same person.
 * A type that neither introduces nor follows cannot be sent at all.  A reply
 * travels the opposite way of its request and never introduces a person.
 * Auditors send nothing.
 */
#ifndef RENKEI_HUB_POLICY_H
#define RENKEI_HUB_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "wire.h"

typedef struct policy_rule {
    const char *type;
    org_kind from;       /* kind that sends it */
    org_kind to;         /* kind that receives it */
    bool introduces;     /* a request may issue the recipient a first-contact code */
    bool replied;        /* its recipient answers with a reply of the same type */
    const char *follows; /* NULL: sent on its own; else it only answers a message of
                          * this type that its recipient sent to its sender */
    bool moves;          /* sent by the resident's current municipality, it makes the
                          * recipient the current one (disclosure, see audit.h) */
} policy_rule_t;

/* What the policy decided for one message. */
typedef struct policy_verdict {
    rk_status status;    /* RK_ST_ACCEPTED, RK_ST_UNKNOWN_TYPE or RK_ST_NOT_PERMITTED */
    bool introduces;     /* a first-contact code may be issued */
    const char *answers; /* non-NULL: reply_to must name an open message of this type
                          * that the recipient sent to the sender about the same person */
    bool answerable;     /* a request others may answer: keep its (request, person) binding */
    bool moves;          /* see policy_rule_t */
} policy_verdict_t;

/* The rule for `type`, or NULL if the hub does not know it. */
const policy_rule_t *policy_find(const char *type);

#define POLICY_DEFAULT_TTL_MS (14ull * 24 * 3600 * 1000) /* 14 days */
#define POLICY_TTL_OVERRIDES 16

/* How long messages wait for their recipient, per procedure type. */
typedef struct policy_ttl {
    uint64_t default_ms;
    size_t n;
    struct {
        char type[RK_TYPE_MAX + 1];
        uint64_t ms;
    } over[POLICY_TTL_OVERRIDES];
} policy_ttl_t;

/* Sets ttl to the default for every type. */
void policy_ttl_init(policy_ttl_t *ttl);
/* Overrides the time-to-live of one known type; false if the type is
 * unknown or the table is full. */
bool policy_ttl_set(policy_ttl_t *ttl, const char *type, uint64_t ms) __attribute__((warn_unused_result));
/* The time-to-live of type. */
uint64_t policy_ttl_of(const policy_ttl_t *ttl, const char *type);

/* Decides whether an org of kind `from` may send `type` to an org of kind
 * `to`, as an answer to another message if has_reply_to.  Fills *v; its
 * status is RK_ST_ACCEPTED, RK_ST_UNKNOWN_TYPE or RK_ST_NOT_PERMITTED. */
void policy_check(const char *type, org_kind from, org_kind to, bool has_reply_to, policy_verdict_t *v);

/* Calls cb for every rule, in table order (for documentation and tests). */
void policy_each(void (*cb)(const policy_rule_t *rule, void *ctx), void *ctx);

#endif /* RENKEI_HUB_POLICY_H */
