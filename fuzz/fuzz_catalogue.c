/*
 * fuzz_catalogue - the procedure catalogue's text (hub/catalogue.h): read
 * by renkei-ctl from an operator's file and by every agent from the
 * directory.  A text that parses prints, section by section, to a
 * canonical text that parses again to the same canonical text.
 */
#include <stdlib.h>
#include <string.h>

#include "catalogue.h"
#include "fuzz.h"

static bool roundtrip(cat_section_t *s, void *ctx, char *why, size_t why_len)
{
    char *text = cat_section_print(s), *again;
    cat_section_t t;

    (void)ctx;
    (void)why;
    (void)why_len;
    if (text == NULL)
        return false;
    FUZZ_CHECK(cat_parse_one(text, strlen(text), &t, NULL, 0));
    again = cat_section_print(&t);
    FUZZ_CHECK(again != NULL && strcmp(text, again) == 0);
    free(again);
    free(text);
    cat_section_clear(&t);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512] = "";
    catalogue_t *cat;

    if (!cat_parse((const char *)data, size, roundtrip, NULL, why, sizeof why))
        FUZZ_CHECK(why[0] != '\0');
    cat = catalogue_from_text((const char *)data, size, why, sizeof why);
    if (cat == NULL)
        FUZZ_CHECK(why[0] != '\0');
    catalogue_free(&cat);
    return 0;
}
