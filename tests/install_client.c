/*
 * install_client - a program an organization might write against the
 * installed agent library, built by tests/install_check.sh with nothing
 * but `pkg-config --cflags --libs renkei-agent` (the source tree is not on
 * its include path): it proves the installed headers are self-contained and
 * the library links and works (an offline agent: bind, then lookup).
 *
 * usage: install_client DATA_DIR   (prints one line, exit 0 on success)
 */
#include <renkei/agent.h>
#include <renkei/version.h>
#include <stdio.h>
#include <string.h>

#define PERSON "TEST-INSTALL-0001" /* a made-up resident's number */

int main(int argc, char **argv)
{
    static const uint8_t code[RK_CODE_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    uint8_t found[RK_CODE_LEN];
    rk_agent_config cfg;
    rk_agent_t *a = NULL;
    rk_agent_err err;
    char why[512] = "";

    if (argc != 2) {
        fprintf(stderr, "usage: install_client DATA_DIR\n");
        return 2;
    }
    rk_agent_config_init(&cfg);
    cfg.data_dir = argv[1];
    cfg.offline = true;
    if ((err = rk_agent_open(&cfg, &a, why, sizeof why)) != RK_AGENT_OK) {
        fprintf(stderr, "install_client: rk_agent_open: %s: %s\n", rk_agent_strerror(err), why);
        return 1;
    }
    err = rk_agent_bind(a, PERSON, code, why, sizeof why);
    if (err == RK_AGENT_OK)
        err = rk_agent_lookup(a, PERSON, found, why, sizeof why);
    rk_agent_close(&a);
    if (err != RK_AGENT_OK) {
        fprintf(stderr, "install_client: %s: %s\n", rk_agent_strerror(err), why);
        return 1;
    }
    if (memcmp(found, code, sizeof code) != 0) {
        fprintf(stderr, "install_client: lookup gave another code than the one bound\n");
        return 1;
    }
    printf("librenkei-agent %s (protocol %u): offline bind and lookup OK\n", RENKEI_VERSION,
           (unsigned)RK_PROTOCOL_VERSION);
    return 0;
}
