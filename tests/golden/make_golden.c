/*
 * make_golden - writes the golden ClientFrame send (tests/golden/client_send.bin).
 *
 *   make_golden FILE     write the frame to FILE
 *
 * Run it only when the wire format changes on purpose; the test suite checks
 * that the build still produces exactly the committed bytes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "golden_frame.h"

int main(int argc, char **argv)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[256] = "";
    FILE *fp;

    if (argc != 2) {
        fprintf(stderr, "usage: make_golden FILE\n");
        return 2;
    }
    if (golden_client_send(&buf, &len, why, sizeof why) != 0) {
        fprintf(stderr, "make_golden: %s\n", why);
        return 1;
    }
    fp = fopen(argv[1], "wb");
    if (fp == NULL || fwrite(buf, 1, len, fp) != len || fclose(fp) != 0) {
        perror(argv[1]);
        free(buf);
        return 1;
    }
    free(buf);
    printf("wrote %zu bytes to %s\n", len, argv[1]);
    return 0;
}
