/*
 * fuzz_mailbox - the agent's stored outbox and inbox records
 * (agents/mailbox.h: rk_mailbox_out_record, rk_mailbox_in_record), as read
 * back from its LMDB data directory, which a damaged disk or a careless
 * copy can hand it in any state.  The first byte picks the table (0:
 * outbox, 1: inbox); the rest is one stored value.  An accepted record is
 * then used as the agent uses it: its names printed, its flags and states
 * tested, an inbox entry's core decoded.
 */
#include <string.h>

#include "fuzz.h"
#include "mailbox.h"
#include "wire.h"

static volatile size_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];

    if (size == 0)
        return 0;
    if (data[0] == 0) {
        rk_msg_status st;
        size_t frame_len = 0;
        if (rk_mailbox_out_record(data + 1, size - 1, &st, &frame_len)) {
            FUZZ_CHECK(frame_len <= size - 1);
            sink += strlen(st.to) + strlen(st.type) + strlen(st.peer) + strlen(st.detail);
            sink += strlen(rk_msg_state_name(st.state)) + strlen(rk_status_name(st.status)) +
                    strlen(rk_status_name(st.cause));
            sink += (size_t)st.no_reply + (size_t)st.is_reply + (size_t)st.complete;
        }
    } else if (data[0] == 1) {
        rk_inbox_entry e;
        rk_core_t core;
        if (rk_mailbox_in_record(data + 1, size - 1, &e) == 0) {
            sink += strlen(e.from) + strlen(e.type);
            sink += (size_t)e.first_contact + (size_t)e.has_reply_to;
            sink += e.state == RK_IN_NEW || e.state == RK_IN_CLAIMED || e.state == RK_IN_DONE;
            if (rk_core_decode(e.core, e.core_len, &core, why, sizeof why) == RK_WIRE_OK)
                rk_core_clear(&core);
        }
        rk_inbox_entry_clear(&e);
    }
    return 0;
}
