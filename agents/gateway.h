/*
 * gateway.h - what the agent's gateways for back offices (serve, http.c,
 * spool.c) share: the JSON object a delivered message is handed over as,
 * reading a message's names from JSON, recognizing the message a name
 * produced, and re-sending what is pending.
 */
#ifndef RENKEI_AGENT_GATEWAY_H
#define RENKEI_AGENT_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "renkei/agent.h"

/* A delivered message as back offices get it (README, "renkei-agent"):
 * {"from","type","msg_id","code","first_contact","payload"} plus
 * "reply_to" for a follow-up and, when with_person and the agent has the
 * person bound, "person".  NULL if the payload is not JSON (*not_json) or
 * memory ran out. */
json_t *rk_gw_delivery_json(const rk_event *ev, bool with_person, bool *not_json);

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
