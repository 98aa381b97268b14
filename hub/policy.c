/*
 * policy.c - the catalogue applied to one message.
 */
#include "policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void refuse(policy_verdict_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(policy_verdict_t *v, const char *fmt, ...)
{
    va_list ap;

    v->status = RK_ST_NOT_PERMITTED;
    va_start(ap, fmt);
    vsnprintf(v->rule, sizeof v->rule, fmt, ap);
    va_end(ap);
}

/* Whether `from` may send p to `to` in p's own direction; else refuses
 * naming the rule. */
static bool direction_ok(const catalogue_t *cat, const cat_procedure_t *p, policy_party_t from,
                         policy_party_t to, policy_verdict_t *v)
{
    char sel[POLICY_RULE_MAX / 2];

    if (!catalogue_matches(cat, &p->senders, from.id, from.kind)) {
        cat_selectors_print(&p->senders, sel, sizeof sel);
        refuse(v, "procedure %s: senders = %s; %s (%s) is not one", p->name, sel, from.id,
               org_kind_name(from.kind));
        return false;
    }
    if (!catalogue_matches(cat, &p->recipients, to.id, to.kind)) {
        cat_selectors_print(&p->recipients, sel, sizeof sel);
        refuse(v, "procedure %s: recipients = %s; %s (%s) is not one", p->name, sel, to.id,
               org_kind_name(to.kind));
        return false;
    }
    if (p->granted) {
        const cat_grant_t *g = catalogue_grant(cat, to.id, p->name);
        if (g == NULL) {
            refuse(v, "procedure %s: access = granted, and %s grants it to nobody", p->name, to.id);
            return false;
        }
        if (!catalogue_matches(cat, &g->senders, from.id, from.kind)) {
            cat_selectors_print(&g->senders, sel, sizeof sel);
            refuse(v, "grant %s %s: senders = %s; %s is not one", to.id, p->name, sel, from.id);
            return false;
        }
    }
    return true;
}

void policy_check(const catalogue_t *cat, const char *type, policy_party_t from, policy_party_t to,
                  bool has_reply_to, policy_verdict_t *v)
{
    const cat_procedure_t *p = cat != NULL ? catalogue_procedure(cat, type) : NULL;

    memset(v, 0, sizeof *v);
    if (p == NULL) {
        v->status = RK_ST_UNKNOWN_TYPE;
        snprintf(v->rule, sizeof v->rule, "the catalogue has no procedure %s", type);
        return;
    }
    if (p->local) {
        refuse(v, "procedure %s: route = local (handled inside one municipality; the hub routes it nowhere)",
               p->name);
        return;
    }
    if (!has_reply_to) {
        /* A request: it must be able to reach a person its recipient does
         * not know, or its acceptance would tell whether it does. */
        if (p->follows[0] != '\0') {
            refuse(v, "procedure %s: follows = %s; it is sent only in answer to one (reply_to)", p->name,
                   p->follows);
            return;
        }
        if (!p->introduces) {
            refuse(v, "procedure %s: introduces = no; it cannot be sent as a request", p->name);
            return;
        }
        if (!direction_ok(cat, p, from, to, v))
            return;
        v->introduces = true;
        v->answerable = p->replied || catalogue_followed(cat, p->name);
        v->moves = p->moves;
    } else if (p->follows[0] != '\0') {
        if (!direction_ok(cat, p, from, to, v))
            return;
        v->answers = p->follows; /* a follow-up */
        v->answerable = p->replied || catalogue_followed(cat, p->name);
    } else if (p->replied) {
        /* A reply goes back the way its request came: the request's
         * recipient answers its sender.  Grants are the request's. */
        if (!catalogue_matches(cat, &p->recipients, from.id, from.kind) ||
            !catalogue_matches(cat, &p->senders, to.id, to.kind)) {
            refuse(v, "procedure %s: a reply goes from one of its recipients to one of its senders", p->name);
            return;
        }
        v->answers = p->name;
    } else {
        refuse(v, "procedure %s: replied = no and it follows nothing; it cannot be sent as an answer",
               p->name);
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
    if (!rk_valid_name(type) || strlen(type) > RK_TYPE_MAX || ms == 0)
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
    const cat_procedure_t *p;

    for (size_t i = 0; i < ttl->n; i++)
        if (strcmp(ttl->over[i].type, type) == 0)
            return ttl->over[i].ms;
    if (ttl->cat != NULL && (p = catalogue_procedure(ttl->cat, type)) != NULL)
        return p->ttl_ms;
    return ttl->default_ms;
}
