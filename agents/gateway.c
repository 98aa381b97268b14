/*
 * gateway.c - shared by the agent's gateways (gateway.h).
 */
#include "gateway.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "logline.h"
#include "wire.h"

json_t *rk_gw_delivery_json(const rk_event *ev, bool with_person, bool *not_json)
{
    char msg[RK_CODE_TEXT_LEN + 1], code[RK_CODE_TEXT_LEN + 1];
    json_t *obj, *payload;

    *not_json = false;
    payload = json_loadb((const char *)ev->payload, ev->payload_len, JSON_DECODE_ANY, NULL);
    if (payload == NULL) {
        *not_json = true;
        return NULL;
    }
    rk_code_to_text(ev->msg_id, msg);
    rk_code_to_text(ev->code, code);
    obj = json_pack("{s:s, s:s, s:s, s:s, s:b, s:o}", "from", ev->from, "type", ev->type, "msg_id", msg,
                    "code", code, "first_contact", ev->first_contact, "payload", payload);
    sodium_memzero(code, sizeof code);
    if (obj == NULL)
        return NULL;
    if (with_person && ev->person != NULL &&
        json_object_set_new(obj, "person", json_string(ev->person)) != 0) {
        json_decref(obj);
        return NULL;
    }
    if (ev->has_reply_to) {
        rk_code_to_text(ev->reply_to, msg);
        if (json_object_set_new(obj, "reply_to", json_string(msg)) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

const char *rk_gw_name_field(json_t *root, const char *field, char *out, size_t out_len)
{
    const char *t = json_string_value(json_object_get(root, field));
    if (t == NULL)
        return "is missing or not a string";
    if (strlen(t) >= out_len || !rk_valid_name(t))
        return "must be lowercase letters, digits, '.', '_' and '-' (at most 64)";
    snprintf(out, out_len, "%s", t);
    return NULL;
}

bool rk_gw_same_message(rk_agent_t *a, const rk_msg_status *st, const char *to, const char *type,
                        const char *person)
{
    uint8_t code[RK_CODE_LEN];
    char why[256];
    bool same;
    if (strcmp(st->to, to) != 0 || strcmp(st->type, type) != 0)
        return false;
    if (rk_agent_lookup(a, person, code, why, sizeof why) != RK_AGENT_OK)
        return false;
    same = sodium_memcmp(code, st->code, RK_CODE_LEN) == 0;
    sodium_memzero(code, sizeof code);
    return same;
}

bool rk_gw_flush(rk_agent_t *a, bool (*connect)(rk_agent_t *a), void (*log)(int level, const char *text))
{
    rk_flush_report rep;
    char why[512] = "";
    rk_agent_err err;
    bool connected = true;

    err = rk_agent_flush(a, 2000, &rep, why, sizeof why);
    if (err == RK_AGENT_EOFFLINE) {
        connected = connect != NULL && connect(a);
        if (connected)
            err = rk_agent_flush(a, 2000, &rep, why, sizeof why);
    }
    if (err == RK_AGENT_OK && rep.accepted > 0 && log != NULL) {
        char line[256];
        snprintf(line, sizeof line, "re-sent %zu pending message(s): %zu accepted, %zu refused, %zu pending",
                 rep.sent, rep.accepted, rep.refused, rep.pending);
        log(RK_LOG_NOTICE, line);
    }
    return connected;
}
