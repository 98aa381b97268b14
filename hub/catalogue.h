/*
 * catalogue.h - the procedure catalogue: which procedure types exist, who
 * may send each to whom, and whom each recipient serves.  Data, not code.
 *
 * The catalogue is text, the same in the file an operator keeps under
 * version control (`renkei-ctl catalogue load|export`), in the hub's store
 * (one section per row) and in what `renkei-ctl` prints.  It has three kinds
 * of section:
 *
 *   [procedure utility.supply.stop]
 *   title      = Stop electricity, gas or water at the old address
 *   route      = hub
 *   senders    = municipality
 *   recipients = utility
 *   introduces = yes
 *   replied    = yes
 *   follows    =
 *   moves      = no
 *   access     = open
 *   ttl        = 14d
 *
 *   route:      hub (routed between organizations) or local (handled inside
 *               one municipality: listed for reference, never routed)
 *   senders, recipients: who may send it, and to whom (selectors, below)
 *   introduces: a request may reach a person the recipient does not know
 *               yet (the recipient is issued a code for them)
 *   replied:    the recipient answers with a reply of the same type
 *   follows:    sent only in answer to a message of that type which the
 *               recipient itself sent (optional)
 *   moves:      sent by the resident's current municipality, it makes the
 *               recipient the current one
 *   access:     open (the catalogue's senders suffice) or granted (each
 *               recipient also serves only the senders its own grant names)
 *   ttl:        how long it waits for its recipient (s, m, h or d)
 *
 *   [group pref.hokkaido]
 *   title   = Municipalities of Hokkaido
 *   members = city.sapporo city.kitami
 *
 *   [grant vehicle.office.hokkaido vehicle.registration.change]
 *   senders = group:pref.hokkaido
 *
 * A selector is an organization kind (municipality, utility, agency,
 * auditor), org:ID (one organization) or group:NAME (the members of a
 * group); a list is separated by spaces.  Lines are `key = value`; a line
 * whose first non-blank character is `#` or `;` is a comment (nothing after
 * a value is: a title may hold `#`).
 * Everything not in the catalogue is refused: deny by default.
 *
 * The canonical text of a section (catalogue_section_print) is what the
 * store keeps and what the routing log's entry about a change hashes, so an
 * auditor holding an exported catalogue can tell which version of each
 * section was in force.
 */
#ifndef RENKEI_HUB_CATALOGUE_H
#define RENKEI_HUB_CATALOGUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Organization kinds: what a selector names, what the store records of
 * each organization, what the directory spells out. */
typedef enum org_kind {
    ORG_MUNICIPALITY = 1,
    ORG_UTILITY = 2,
    ORG_AUDITOR = 3,
    ORG_AGENCY = 4, /* a national or prefectural office, e.g. a vehicle registration office */
} org_kind;

/* "municipality" / "utility" / "auditor" / "agency"; "unknown" otherwise. */
const char *org_kind_name(org_kind kind);
/* Parses a kind name; false if it is none of the four. */
bool org_kind_parse(const char *name, org_kind *kind);

#define CATALOGUE_TITLE_MAX 200          /* bytes of UTF-8 */
#define CATALOGUE_SELECTORS_MAX 64       /* selectors in one list */
#define CATALOGUE_MEMBERS_MAX 4096       /* organizations in one group */
#define CATALOGUE_SECTION_MAX (1u << 20) /* bytes of one section's text */
#define CATALOGUE_TTL_MAX_MS (366ull * 24 * 3600 * 1000)
#define CATALOGUE_DEFAULT_TTL_MS (14ull * 24 * 3600 * 1000)

typedef enum cat_section_kind {
    CAT_PROCEDURE = 1,
    CAT_GROUP = 2,
    CAT_GRANT = 3,
} cat_section_kind;

typedef enum cat_selector_kind {
    SEL_KIND = 1,  /* every organization of one kind */
    SEL_ORG = 2,   /* one organization */
    SEL_GROUP = 3, /* the members of a group */
} cat_selector_kind;

typedef struct cat_selector {
    cat_selector_kind kind;
    org_kind org_kind;        /* SEL_KIND */
    char name[RK_ID_MAX + 1]; /* SEL_ORG, SEL_GROUP */
} cat_selector_t;

typedef struct cat_selectors {
    size_t n;
    cat_selector_t s[CATALOGUE_SELECTORS_MAX];
} cat_selectors_t;

typedef struct cat_procedure {
    char name[RK_TYPE_MAX + 1];
    char title[CATALOGUE_TITLE_MAX + 1];
    bool local; /* route = local */
    cat_selectors_t senders, recipients;
    bool introduces, replied, moves;
    bool granted;                  /* access = granted */
    char follows[RK_TYPE_MAX + 1]; /* "" if sent on its own */
    uint64_t ttl_ms;
} cat_procedure_t;

typedef struct cat_group {
    char name[RK_ID_MAX + 1];
    char title[CATALOGUE_TITLE_MAX + 1];
    size_t n;
    char (*members)[RK_ID_MAX + 1]; /* sorted, no duplicates; malloc'd */
} cat_group_t;

typedef struct cat_grant {
    char recipient[RK_ID_MAX + 1];
    char procedure[RK_TYPE_MAX + 1];
    cat_selectors_t senders;
} cat_grant_t;

/* One parsed section. */
typedef struct cat_section {
    cat_section_kind kind;
    union {
        cat_procedure_t proc;
        cat_group_t group;
        cat_grant_t grant;
    } u;
} cat_section_t;

/* Frees what a section holds (a group's members) and zeroes it. */
void cat_section_clear(cat_section_t *s);

/* The section's key in the store: "procedure NAME", "group NAME" or
 * "grant RECIPIENT PROCEDURE" (the text of its header without brackets). */
void cat_section_key(const cat_section_t *s, char *out, size_t out_len);

/* The canonical text of a section: its header and every key in a fixed
 * order, one per line, "\n"-terminated.  Returns a malloc'd string (NULL:
 * out of memory). */
char *cat_section_print(const cat_section_t *s);

/* Calls cb for each section of a catalogue text, in order.  Stops at the
 * first error: returns false with `why` naming the line and what is wrong
 * (nothing more of the text is read; sections already passed to cb stay
 * passed).  cb returns false to stop (then `why` is what cb wrote).  The
 * section passed to cb is cleared after cb returns: cb copies what it keeps. */
bool cat_parse(const char *text, size_t len,
               bool (*cb)(cat_section_t *s, void *ctx, char *why, size_t why_len), void *ctx, char *why,
               size_t why_len) __attribute__((warn_unused_result));

/* Parses text that must hold exactly one section into *out (cleared first). */
bool cat_parse_one(const char *text, size_t len, cat_section_t *out, char *why, size_t why_len)
    __attribute__((warn_unused_result));

/* ------------------------------------------------------------ the whole */

/* A catalogue in memory, looked up by the hub for every message. */
typedef struct catalogue catalogue_t;

catalogue_t *catalogue_new(void);
void catalogue_free(catalogue_t **cat);

/* Adds (or replaces: same key) one section, taking its content (*s is
 * left cleared).  false only when out of memory. */
bool catalogue_put(catalogue_t *cat, cat_section_t *s) __attribute__((warn_unused_result));

/* Checks what no single section can: every `follows`, group and grant names
 * something the catalogue holds, and a type that neither introduces nor
 * follows can still be answered or is local.  false with `why` at the
 * first problem. */
bool catalogue_check(const catalogue_t *cat, char *why, size_t why_len) __attribute__((warn_unused_result));

/* A whole catalogue from its text, checked (catalogue_check); NULL with
 * `why` if the text does not parse or is not consistent. */
catalogue_t *catalogue_from_text(const char *text, size_t len, char *why, size_t why_len);

const cat_procedure_t *catalogue_procedure(const catalogue_t *cat, const char *name);
size_t catalogue_procedures(const catalogue_t *cat);
const cat_procedure_t *catalogue_procedure_at(const catalogue_t *cat, size_t i); /* in name order */
const cat_group_t *catalogue_group(const catalogue_t *cat, const char *name);
const cat_grant_t *catalogue_grant(const catalogue_t *cat, const char *recipient, const char *procedure);

/* Whether org matches one of the selectors (a group it is a member of, its
 * kind, or its id). */
bool catalogue_matches(const catalogue_t *cat, const cat_selectors_t *sel, const char *org, org_kind kind);

/* The selectors as the catalogue writes them ("municipality group:x"). */
void cat_selectors_print(const cat_selectors_t *sel, char *out, size_t out_len);

/* Whether some procedure follows `name` (a request of it can be answered
 * by a follow-up). */
bool catalogue_followed(const catalogue_t *cat, const char *name);

/* The catalogue Renkei ships (the text of hub/catalogue.default): what a new
 * hub's store starts with. */
extern const char catalogue_default_text[];
extern const size_t catalogue_default_len;

#endif /* RENKEI_HUB_CATALOGUE_H */
