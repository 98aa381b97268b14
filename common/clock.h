/*
 * clock.h - the two clocks Renkei reads, in milliseconds.
 *
 * rk_wall_ms() is the calendar (CLOCK_REALTIME): what is written down, on
 * the routing log, in records and in answers.  rk_mono_ms() never jumps
 * (CLOCK_MONOTONIC): what timeouts, back-offs and deadlines are measured
 * with, so that a clock set back by an operator or NTP cannot stall or
 * hurry them.
 */
#ifndef RENKEI_COMMON_CLOCK_H
#define RENKEI_COMMON_CLOCK_H

#include <stdint.h>

uint64_t rk_wall_ms(void);
uint64_t rk_mono_ms(void);

#endif /* RENKEI_COMMON_CLOCK_H */
