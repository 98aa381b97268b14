/*
 * policy.h - which procedure types exist, who may send them to whom, and
 * which may introduce a person to an organization (first contact).
 *
 * The table is compiled in (proto/README.md lists it).  A reply travels the
 * opposite way of its request, carries the request's type and never
 * introduces a person.  Auditors send nothing.
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
    org_kind from;    /* kind that sends the request */
    org_kind to;      /* kind that receives it */
    bool introduces;  /* may issue the recipient a first-contact code */
} policy_rule_t;

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
 * `to` (as a reply if is_reply).  Returns RK_ST_ACCEPTED, RK_ST_UNKNOWN_TYPE
 * or RK_ST_NOT_PERMITTED; *introduces says whether first contact is allowed. */
rk_status policy_check(const char *type, org_kind from, org_kind to, bool is_reply, bool *introduces);

#endif /* RENKEI_HUB_POLICY_H */
