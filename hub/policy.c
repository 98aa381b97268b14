/*
 * policy.c - the procedure types the hub routes.
 */
#include "policy.h"

#include <stdio.h>
#include <string.h>

static const policy_rule_t rules[] = {
    /* X city tells Y town that a resident moves there: introduces A to Y,
     * and Y becomes A's current municipality. */
    {"move.out.notice", ORG_MUNICIPALITY, ORG_MUNICIPALITY, .introduces = true, .moves = true},
    /* Y town confirms the move-in to X city: only in answer to X's move-out
     * notice about A (otherwise it would ask "does X know A?"). */
    {"move.in.notice", ORG_MUNICIPALITY, ORG_MUNICIPALITY, .follows = "move.out.notice"},
    /* Stop or start electricity, gas, water: the utility may not know A yet;
     * it answers with a reply. */
    {"utility.supply.stop", ORG_MUNICIPALITY, ORG_UTILITY, .introduces = true, .replied = true},
    {"utility.supply.start", ORG_MUNICIPALITY, ORG_UTILITY, .introduces = true, .replied = true},
};

#define N_RULES (sizeof rules / sizeof rules[0])

const policy_rule_t *policy_find(const char *type)
{
    for (size_t i = 0; i < N_RULES; i++)
        if (strcmp(rules[i].type, type) == 0)
            return &rules[i];
    return NULL;
}

void policy_each(void (*cb)(const policy_rule_t *rule, void *ctx), void *ctx)
{
    for (size_t i = 0; i < N_RULES; i++)
        cb(&rules[i], ctx);
}

/* Whether some type follows `type` (then a request of it may be answered). */
static bool followed(const char *type)
{
    for (size_t i = 0; i < N_RULES; i++)
        if (rules[i].follows != NULL && strcmp(rules[i].follows, type) == 0)
            return true;
    return false;
}

void policy_check(const char *type, org_kind from, org_kind to, bool has_reply_to, policy_verdict_t *v)
{
    const policy_rule_t *r = policy_find(type);

    memset(v, 0, sizeof *v);
    v->status = RK_ST_NOT_PERMITTED;
    if (r == NULL) {
        v->status = RK_ST_UNKNOWN_TYPE;
        return;
    }
    if (!has_reply_to) {
        /* A request: it must be able to reach a person its recipient does
         * not know, or its acceptance would tell whether it does. */
        if (from != r->from || to != r->to || r->follows != NULL || !r->introduces)
            return;
        v->introduces = true;
        v->answerable = r->replied || followed(r->type);
        v->moves = r->moves;
    } else if (r->replied && from == r->to && to == r->from) {
        v->answers = r->type; /* a reply */
    } else if (r->follows != NULL && from == r->from && to == r->to) {
        v->answers = r->follows; /* a follow-up */
        v->answerable = r->replied || followed(r->type);
    } else {
        return;
    }
    v->status = RK_ST_ACCEPTED;
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
