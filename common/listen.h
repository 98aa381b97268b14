/*
 * listen.h - the address of a local HTTP endpoint as the command lines
 * take it (renkei-hub --metrics, renkei-agent http --listen): PORT (on
 * 127.0.0.1), ADDR:PORT or [ADDR]:PORT, with a numeric address.
 */
#ifndef RENKEI_COMMON_LISTEN_H
#define RENKEI_COMMON_LISTEN_H

#include <stdbool.h>
#include <sys/socket.h>

/* Parses text into *ss (*len bytes) and says whether it is a loopback
 * address (127.0.0.0/8, ::1).  false if text is not of that form. */
bool rk_listen_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len, bool *loopback);

#endif /* RENKEI_COMMON_LISTEN_H */
