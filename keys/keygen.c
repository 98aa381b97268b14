/*
 * renkei-keygen - create a party's key pair, or the hub's master key.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: renkei-keygen [-o DIR] NAME\n"
            "       renkei-keygen --master FILE\n"
            "\n"
            "Creates DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub (public) for the\n"
            "party NAME (an organization id such as city.x, or 'hub').  One identity\n"
            "gives both the Ed25519 signing key and the X25519 key used by CurveZMQ\n"
            "and payload encryption.  Mail NAME.pub to the hub operator; never the .key.\n"
            "\n"
            "  -o, --out DIR     write into DIR (default: current directory)\n"
            "  -m, --master FILE create the hub's master key (the ID-code table key)\n"
            "  -h, --help        show this help\n"
            "\n"
            "Existing files are never overwritten.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"master", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = ".", *master = NULL;
    char why[512] = "", prefix[4096];
    rk_identity_t *id;
    int c;

    while ((c = getopt_long(argc, argv, "o:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 'm': master = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (master != NULL) {
        if (optind != argc) {
            usage(stderr);
            return 2;
        }
        if (rk_master_generate_file(master, why, sizeof why) != RK_KEYS_OK) {
            fprintf(stderr, "renkei-keygen: %s\n", why);
            return 1;
        }
        printf("wrote master key %s (mode 0600)\n", master);
        return 0;
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    if (!rk_valid_name(argv[optind])) {
        fprintf(stderr, "renkei-keygen: '%s' is not a valid name: use 1-64 of a-z 0-9 . _ -, "
                        "starting with a letter\n", argv[optind]);
        return 2;
    }
    if ((size_t)snprintf(prefix, sizeof prefix, "%s/%s", dir, argv[optind]) >= sizeof prefix) {
        fprintf(stderr, "renkei-keygen: output path too long\n");
        return 2;
    }
    id = rk_identity_generate(argv[optind]);
    if (id == NULL) {
        fprintf(stderr, "renkei-keygen: cannot generate a key (libsodium failed)\n");
        return 1;
    }
    if (rk_identity_save(id, prefix, why, sizeof why) != RK_KEYS_OK) {
        fprintf(stderr, "renkei-keygen: %s\n", why);
        rk_identity_destroy(&id);
        return 1;
    }
    rk_identity_destroy(&id);
    printf("wrote %s.key (secret, mode 0600) and %s.pub\n", prefix, prefix);
    return 0;
}
