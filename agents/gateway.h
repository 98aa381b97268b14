/*
 * gateway.h - what the agent's gateways for back offices (http.c,
 * spool.c) share: reading a message's names from JSON, recognizing the
 * message a name produced, and re-sending what is pending.
 */
#ifndef RENKEI_AGENT_GATEWAY_H
#define RENKEI_AGENT_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "renkei/agent.h"

/* Copies root's string field (an organization id or a procedure type)
 * into out; NULL, or what is wrong with it ("is missing or not a string"). */
const char *rk_gw_name_field(json_t *root, const char *field, char *out, size_t out_len);

/* Whether the outbox record st is the message (to, type, person): the
 * same recipient and type, and the link code this agent holds for person. */
bool rk_gw_same_message(rk_agent_t *a, const rk_msg_status *st, const char *to, const char *type,
                        const char *person);

/* Sends what is pending (rk_agent_flush), connecting first with
 * connect() if the agent is offline; logs what went when something was
 * accepted.  Returns whether the agent is connected. */
bool rk_gw_flush(rk_agent_t *a, bool (*connect)(rk_agent_t *a), void (*log)(int level, const char *text));

#endif /* RENKEI_AGENT_GATEWAY_H */
