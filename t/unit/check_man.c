/* check_man.c - the manual pages document what the code accepts, so that
 * they cannot drift from it:
 *
 * - man/outpost.json.5 has an entry for every key path of config_keys()
 *   (a ".TP" line, then ".B PATH"), stating its type as config_keys()
 *   prints it ("Type: \fITYPE\fP") and its default ("Default: \fBDEF\fP";
 *   a key without one still says "Default:"), and no entry for a key the
 *   parser does not know;
 * - man/outpostctl.8 has an entry (a ".TP" line, then a line starting with
 *   \fBNAME\fP, or \fBallow\fP|\fBdeny\fP ...) for every command that
 *   `outpostctl --help` lists (the usage text of src/ctl.c, so every
 *   command of SPEC §8 that is implemented), and none for a command that
 *   outpostctl does not have.
 *
 * Paths and values are matched in their roff form: '-' written "\-", '\'
 * written "\e"; newlines inside an entry count as spaces (the text may be
 * wrapped).  T_MAN is the source man/ directory, OUTPOSTCTL the binary. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../lib/tfix.h"
#include "config.h"
#include "../lib/tlib.h"

#define T_NAMES_MAX 64

static char *t_man_read(const char *name)
{
    const char *dir = getenv("T_MAN");
    char path[1024];

    ck_assert_msg(dir != NULL, "T_MAN is not set (run through make check)");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *s = tfile_read(path);
    ck_assert_msg(s != NULL, "cannot read %s", path);
    return s;
}

/* The roff form of a literal: '\' -> "\e", '-' -> "\-". */
static void t_roff(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in != '\0' && o + 3 < cap; in++) {
        if (*in == '\\' || *in == '-') {
            out[o++] = '\\';
            out[o++] = *in == '\\' ? 'e' : '-';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

/* The part of doc from the line ".SH NAME" to the next ".SH" line (or the
 * end), malloc'd; NULL if there is no such section. */
static char *t_section(const char *doc, const char *name)
{
    char head[64];
    snprintf(head, sizeof head, "\n.SH %s\n", name);
    const char *at = strstr(doc, head);
    if (at == NULL)
        return NULL;
    at += 1;
    const char *end = strstr(at + 1, "\n.SH ");
    size_t n = end ? (size_t)(end - at) + 1 : strlen(at);
    char *s = malloc(n + 1);
    memcpy(s, at, n);
    s[n] = '\0';
    return s;
}

/* The entry whose tag line (after ".TP") is exactly `tag`: from the tag
 * to the next ".TP", ".SS" or ".SH" line, with newlines turned into
 * spaces; malloc'd, or NULL if there is none. */
static char *t_entry(const char *doc, const char *tag)
{
    size_t tl = strlen(tag);
    const char *at = doc;
    while ((at = strstr(at, "\n.TP\n")) != NULL) {
        at += 5;
        if (strncmp(at, tag, tl) == 0 && at[tl] == '\n')
            break;
    }
    if (at == NULL)
        return NULL;
    const char *end = at + tl;
    while ((end = strchr(end, '\n')) != NULL) {
        if (strncmp(end, "\n.TP", 4) == 0 || strncmp(end, "\n.SS", 4) == 0
            || strncmp(end, "\n.SH", 4) == 0)
            break;
        end++;
    }
    size_t n = end ? (size_t)(end - at) : strlen(at);
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = at[i] == '\n' ? ' ' : at[i];
    s[n] = '\0';
    return s;
}

/* ---- outpost.json.5 ---------------------------------------------------- */

struct t_keys {
    const char *doc;
    int   missing;
    char  all[8192];            /* "|path|path|...|" */
};

static void t_key(const char *path, const char *type, const char *def, void *arg)
{
    struct t_keys *k = arg;
    char tag[600], want[700], esc[512];

    snprintf(k->all + strlen(k->all), sizeof k->all - strlen(k->all), "%s|", path);
    t_roff(path, esc, sizeof esc);
    snprintf(tag, sizeof tag, ".B %s", esc);
    char *e = t_entry(k->doc, tag);
    if (e == NULL) {
        fprintf(stderr, "man/outpost.json.5: no entry \".TP\" \"%s\"\n", tag);
        k->missing++;
        return;
    }
    t_roff(type, esc, sizeof esc);
    snprintf(want, sizeof want, "Type: \\fI%s\\fP", esc);
    if (strstr(e, want) == NULL) {
        fprintf(stderr, "man/outpost.json.5: %s: no \"%s\"\n", path, want);
        k->missing++;
    }
    /* a default set by ./configure is documented by name, not value */
    if (def[0] == '\0')
        snprintf(want, sizeof want, "Default: ");
    else if (strcmp(def, OUTPOST_POLICYDIR) == 0)
        snprintf(want, sizeof want, "Default: \\fIPKGDATADIR\\fP");
    else {
        t_roff(def, esc, sizeof esc);
        snprintf(want, sizeof want, "Default: \\fB%s\\fP", esc);
    }
    if (strstr(e, want) == NULL) {
        fprintf(stderr, "man/outpost.json.5: %s: no \"%s\"\n", path, want);
        k->missing++;
    }
    free(e);
}

START_TEST(config_keys_documented)
{
    char *doc = t_man_read("outpost.json.5");
    struct t_keys k = { .doc = doc, .missing = 0, .all = "|" };

    config_keys(t_key, &k);
    ck_assert_msg(k.missing == 0, "%d key(s) of config_keys() not (fully) documented "
                  "in man/outpost.json.5 (see above)", k.missing);

    /* and nothing else: every entry of KEYS is a key of config_keys() */
    char *keys = t_section(doc, "KEYS");
    ck_assert_msg(keys != NULL, "man/outpost.json.5 has no KEYS section");
    int n = 0, extra = 0;
    for (const char *at = keys; (at = strstr(at, "\n.TP\n.B ")) != NULL; n++) {
        at += 8;
        const char *eol = strchr(at, '\n');
        size_t len = eol ? (size_t)(eol - at) : strlen(at);
        char name[300], needle[310];
        /* undo the roff form of the path */
        size_t o = 0;
        for (size_t i = 0; i < len && o + 1 < sizeof name; i++) {
            if (at[i] == '\\' && i + 1 < len && (at[i + 1] == '-' || at[i + 1] == 'e')) {
                name[o++] = at[i + 1] == '-' ? '-' : '\\';
                i++;
            } else {
                name[o++] = at[i];
            }
        }
        name[o] = '\0';
        snprintf(needle, sizeof needle, "|%s|", name);
        if (strstr(k.all, needle) == NULL) {
            fprintf(stderr, "man/outpost.json.5: entry %s is not a key of config_keys()\n",
                    name);
            extra++;
        }
    }
    ck_assert_msg(extra == 0, "man/outpost.json.5 documents %d unknown key(s)", extra);
    ck_assert_int_gt(n, 0);
    free(keys);
    free(doc);
}
END_TEST

/* ---- outpostctl.8 ------------------------------------------------------ */

struct t_names {
    char   v[T_NAMES_MAX][32];
    size_t n;
};

static bool t_names_has(const struct t_names *ns, const char *name)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i], name) == 0)
            return true;
    return false;
}

static void t_names_add(struct t_names *ns, const char *name, size_t len)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf || ns->n == T_NAMES_MAX)
        return;
    memcpy(buf, name, len);
    buf[len] = '\0';
    if (!t_names_has(ns, buf))
        snprintf(ns->v[ns->n++], sizeof ns->v[0], "%s", buf);
}

/* The commands of `outpostctl --help`: lines "  NAME ..." or
 * "  NAME|NAME ...", NAME starting with a lower-case letter. */
static void t_usage_commands(struct t_names *ns)
{
    const char *bin = getenv("OUTPOSTCTL");
    static char out[16384];
    char err[1024];

    ck_assert_msg(bin != NULL, "OUTPOSTCTL is not set (run through make check)");
    char *const argv[] = { (char *)bin, "--help", NULL };
    int st = trun(argv, out, sizeof out, err, sizeof err, 10000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "%s --help failed: %s", bin, err);
    ns->n = 0;
    for (const char *l = out; *l != '\0'; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != '\0')) {
        if (l[0] != ' ' || l[1] != ' ' || l[2] < 'a' || l[2] > 'z')
            continue;
        const char *w = l + 2;
        size_t wl = strcspn(w, " \n");
        for (size_t i = 0; i < wl;) {
            size_t pl = strcspn(w + i, "|");
            if (pl > wl - i)
                pl = wl - i;
            t_names_add(ns, w + i, pl);
            i += pl + 1;
        }
    }
}

/* The command names of the COMMANDS section: the first word of each tag
 * line, "\fBNAME\fP" or "\fBNAME\fP|\fBNAME\fP". */
static void t_man_commands(const char *sect, struct t_names *ns, int *bad)
{
    ns->n = 0;
    for (const char *at = sect; (at = strstr(at, "\n.TP\n")) != NULL;) {
        at += 5;
        size_t wl = strcspn(at, " \n");
        for (size_t i = 0; i < wl;) {
            size_t pl = strcspn(at + i, "|");
            if (pl > wl - i)
                pl = wl - i;
            char piece[64], name[32];
            size_t o = 0;
            snprintf(piece, sizeof piece, "%.*s", (int)pl, at + i);
            size_t n = strlen(piece);
            if (n < 7 || strncmp(piece, "\\fB", 3) != 0 || strcmp(piece + n - 3, "\\fP") != 0) {
                fprintf(stderr, "man/outpostctl.8: tag \"%.*s\" is not \\fBNAME\\fP\n",
                        (int)wl, at);
                (*bad)++;
                break;
            }
            for (size_t j = 3; j < n - 3 && o + 1 < sizeof name; j++) {
                if (piece[j] == '\\' && piece[j + 1] == '-')
                    j++;
                name[o++] = piece[j];
            }
            name[o] = '\0';
            t_names_add(ns, name, o);
            i += pl + 1;
        }
    }
}

START_TEST(ctl_commands_documented)
{
    /* SPEC §8's command names; those that outpostctl has must be
     * documented (the loop below checks every command it has) */
    static const char *const spec[] = {
        "show", "suspended", "suspend", "reinstate", "identity", "verdict",
        "class", "reset", "override", "allow", "deny", "events", "stats",
        "query", "check-config",
    };
    struct t_names usage, man;
    int bad = 0;

    t_usage_commands(&usage);
    /* the parse works: commands there since the first version */
    ck_assert_msg(t_names_has(&usage, "query") && t_names_has(&usage, "check-config"),
                  "cannot find the commands in outpostctl --help");

    char *doc = t_man_read("outpostctl.8");
    char *sect = t_section(doc, "COMMANDS");
    ck_assert_msg(sect != NULL, "man/outpostctl.8 has no COMMANDS section");
    t_man_commands(sect, &man, &bad);
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++)
        if (t_names_has(&usage, spec[i]) && !t_names_has(&man, spec[i])) {
            fprintf(stderr, "man/outpostctl.8: SPEC command %s (in outpostctl --help) "
                            "has no entry\n", spec[i]);
            bad++;
        }
    for (size_t i = 0; i < usage.n; i++)
        if (!t_names_has(&man, usage.v[i])) {
            fprintf(stderr, "man/outpostctl.8: command %s (in outpostctl --help) has "
                            "no entry\n", usage.v[i]);
            bad++;
        }
    for (size_t i = 0; i < man.n; i++)
        if (!t_names_has(&usage, man.v[i])) {
            fprintf(stderr, "man/outpostctl.8: documents %s, which outpostctl --help "
                            "does not list\n", man.v[i]);
            bad++;
        }
    ck_assert_msg(bad == 0, "man/outpostctl.8 and outpostctl --help differ (see above)");
    free(sect);
    free(doc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("man");
    TCase *tc = tcase_create("pages");
    tcase_add_test(tc, config_keys_documented);
    tcase_add_test(tc, ctl_commands_documented);
    suite_add_tcase(s, tc);
    return tfix_run(s);
}
