/*
 * fuzz_config - renkei-hub's configuration file parser (hub/options.h),
 * 'name = value' lines read with --config FILE.
 */
#include <string.h>

#include "fuzz.h"
#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    options_t o;
    char why[512];

    memset(&o, 0, sizeof o);
    o.verify_threads = -1;
    policy_ttl_init(&o.ttl);
    if (hub_options_parse(&o, (const char *)data, size, "fuzz.conf", why, sizeof why)) {
        FUZZ_CHECK(o.verify_threads >= -1 && o.verify_threads <= 64);
    } else {
        FUZZ_CHECK(why[0] != '\0');
    }
    hub_options_free(&o);
    return 0;
}
