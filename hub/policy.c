/*
 * policy.c - the procedure types the hub routes.
 */
#include "policy.h"

#include <stdio.h>
#include <string.h>

static const policy_rule_t rules[] = {
    /* X city tells Y town that a resident moves there: introduces A to Y. */
    {"move.out.notice", ORG_MUNICIPALITY, ORG_MUNICIPALITY, true},
    /* Y town confirms the move-in to X city, which already knows A. */
    {"move.in.notice", ORG_MUNICIPALITY, ORG_MUNICIPALITY, false},
    /* Stop or start electricity, gas, water: the utility may not know A yet. */
    {"utility.supply.stop", ORG_MUNICIPALITY, ORG_UTILITY, true},
    {"utility.supply.start", ORG_MUNICIPALITY, ORG_UTILITY, true},
};

const policy_rule_t *policy_find(const char *type)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (strcmp(rules[i].type, type) == 0)
            return &rules[i];
    return NULL;
}

rk_status policy_check(const char *type, org_kind from, org_kind to, bool is_reply, bool *introduces)
{
    const policy_rule_t *r = policy_find(type);
    *introduces = false;
    if (r == NULL)
        return RK_ST_UNKNOWN_TYPE;
    if (is_reply ? (from != r->to || to != r->from) : (from != r->from || to != r->to))
        return RK_ST_NOT_PERMITTED;
    *introduces = !is_reply && r->introduces;
    return RK_ST_ACCEPTED;
}

void policy_ttl_init(policy_ttl_t *ttl)
{
    memset(ttl, 0, sizeof *ttl);
    ttl->default_ms = POLICY_DEFAULT_TTL_MS;
}

bool policy_ttl_set(policy_ttl_t *ttl, const char *type, uint64_t ms)
{
    if (policy_find(type) == NULL || ms == 0)
        return false;
    for (size_t i = 0; i < ttl->n; i++) {
        if (strcmp(ttl->over[i].type, type) == 0) {
            ttl->over[i].ms = ms;
            return true;
        }
    }
    if (ttl->n == POLICY_TTL_OVERRIDES)
        return false;
    snprintf(ttl->over[ttl->n].type, sizeof ttl->over[ttl->n].type, "%s", type);
    ttl->over[ttl->n++].ms = ms;
    return true;
}

uint64_t policy_ttl_of(const policy_ttl_t *ttl, const char *type)
{
    for (size_t i = 0; i < ttl->n; i++)
        if (strcmp(ttl->over[i].type, type) == 0)
            return ttl->over[i].ms;
    return ttl->default_ms;
}
