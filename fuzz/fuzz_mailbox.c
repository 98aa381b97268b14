/*
 * fuzz_mailbox - the agent's stored outbox and inbox records
 * (agents/mailbox.h: rk_mailbox_out_record, rk_mailbox_in_record), as read
 * back from its LMDB data directory, which a damaged disk or a careless
 * copy can hand it in any state.  The first byte picks the table (0:
 * outbox, 1: inbox); the rest is one stored value.  An accepted record is
 * then used as the agent uses it: its names printed, its flags and states
 * tested, an inbox entry's core decoded; and written again with the
 * encoder, which must give a record that decodes to the same bytes once
 * more (the encoder's output is the one form of what was decoded).
 */
#include <string.h>

#include "fuzz.h"
#include "mailbox.h"
#include "wire.h"

static volatile size_t sink;

static void out_case(const uint8_t *val, size_t len)
{
    char why[256];
    rk_msg_status st, st2;
    uint32_t waiter = 0, waiter2 = 0;
    size_t frame_len = 0, frame_len2 = 0;
    uint8_t once[RK_MAILBOX_OUT_FIXED], twice[RK_MAILBOX_OUT_FIXED];
    uint8_t *copy;

    if (rk_mailbox_out_record(val, len, &st, &waiter, &frame_len, why, sizeof why) != RK_AGENT_OK)
        return;
    FUZZ_CHECK(len >= RK_MAILBOX_OUT_FIXED && frame_len == len - RK_MAILBOX_OUT_FIXED);
    sink += strlen(st.to) + strlen(st.type) + strlen(st.peer) + strlen(st.detail);
    sink += strlen(rk_msg_state_name(st.state)) + strlen(rk_status_name(st.status)) +
            strlen(rk_status_name(st.cause));
    sink += (size_t)st.no_reply + (size_t)st.is_reply + (size_t)st.complete;

    rk_mailbox_out_encode(&st, waiter, frame_len, once);
    copy = malloc(len);
    if (copy == NULL)
        return;
    memcpy(copy, once, sizeof once);
    memcpy(copy + sizeof once, val + sizeof once, frame_len);
    FUZZ_CHECK(rk_mailbox_out_record(copy, len, &st2, &waiter2, &frame_len2, why, sizeof why) == RK_AGENT_OK);
    FUZZ_CHECK(waiter2 == waiter && frame_len2 == frame_len);
    rk_mailbox_out_encode(&st2, waiter2, frame_len2, twice);
    FUZZ_CHECK(memcmp(once, twice, sizeof once) == 0);
    free(copy);
}

static void in_case(const uint8_t *val, size_t len)
{
    char why[256];
    rk_inbox_entry e, e2;
    rk_core_t core;
    uint8_t once[RK_MAILBOX_IN_FIXED], twice[RK_MAILBOX_IN_FIXED];
    uint8_t *copy;

    if (rk_mailbox_in_record(val, len, &e, why, sizeof why) != RK_AGENT_OK) {
        rk_inbox_entry_clear(&e);
        return;
    }
    /* a format 2 value, or a format 1 one (read, re-encoded as format 2) */
    FUZZ_CHECK(e.core_len <= len &&
               (len - e.core_len == RK_MAILBOX_IN_FIXED || len - e.core_len == RK_MAILBOX_IN_FIXED_V1));
    sink += strlen(e.from) + strlen(e.type);
    sink += (size_t)e.first_contact + (size_t)e.has_reply_to;
    sink +=
        e.state == RK_IN_NEW || e.state == RK_IN_CLAIMED || e.state == RK_IN_DONE || e.state == RK_IN_DEAD;
    if (rk_core_decode(e.core, e.core_len, &core, why, sizeof why) == RK_WIRE_OK)
        rk_core_clear(&core);

    rk_mailbox_in_encode(&e, once);
    copy = malloc(sizeof once + e.core_len);
    if (copy != NULL) {
        memcpy(copy, once, sizeof once);
        if (e.core_len > 0)
            memcpy(copy + sizeof once, e.core, e.core_len);
        FUZZ_CHECK(rk_mailbox_in_record(copy, sizeof once + e.core_len, &e2, why, sizeof why) == RK_AGENT_OK);
        rk_mailbox_in_encode(&e2, twice);
        FUZZ_CHECK(memcmp(once, twice, sizeof once) == 0);
        FUZZ_CHECK(e2.core_len == e.core_len && memcmp(e2.core, e.core, e.core_len) == 0);
        rk_inbox_entry_clear(&e2);
        free(copy);
    }
    rk_inbox_entry_clear(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] == 0)
        out_case(data + 1, size - 1);
    else if (data[0] == 1)
        in_case(data + 1, size - 1);
    return 0;
}
