#include "clock.h"

#include <time.h>

static uint64_t read_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t rk_wall_ms(void)
{
    return read_ms(CLOCK_REALTIME);
}

uint64_t rk_mono_ms(void)
{
    return read_ms(CLOCK_MONOTONIC);
}
