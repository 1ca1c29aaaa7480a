/* main.c - outpostd: options, configuration check, privilege drop.
 *
 *   outpostd [-f] [-c FILE]     run (never forks; -f logs to stderr)
 *   outpostd -t [-c FILE]       check the configuration, exit 0 or 1
 *
 * Order of start-up: load and validate the config (exit 1 on error), set up
 * logging, bind the listeners as root (daemon_init), drop to `user`/`group`,
 * run the loop (daemon_run), release everything (daemon_fini). */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

static void main_usage(FILE *f)
{
    fprintf(f, "usage: outpostd [-f] [-c FILE]\n"
               "       outpostd -t [-c FILE]\n"
               "  -c FILE  configuration file (default %s)\n"
               "  -f       stay in the foreground and log to stderr\n"
               "  -t       check the configuration and exit (0 valid, 1 not)\n"
               "  -V       print the version\n", CONFIG_DEFAULT_PATH);
}

struct main_ids {
    uid_t uid;
    gid_t gid;
    bool  change;               /* root: setgid/initgroups/setuid to these */
    const char *name;
};

/* Resolves user/group of the config.  Not root: nothing to change. */
static int main_resolve_ids(const struct config *cfg, struct main_ids *ids)
{
    ids->uid = geteuid();
    ids->gid = getegid();
    ids->change = false;
    ids->name = NULL;
    if (geteuid() != 0) {
        log_info("not started as root: running as uid %ld, user/group not changed",
                 (long)geteuid());
        return 0;
    }
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL) {
        log_err("user: no such user \"%s\" (create it, or set \"user\" in %s)",
                cfg->user, cfg->path);
        return -1;
    }
    ids->uid = pw->pw_uid;
    ids->gid = pw->pw_gid;
    ids->name = cfg->user;
    if (cfg->group != NULL) {
        struct group *gr = getgrnam(cfg->group);
        if (gr == NULL) {
            log_err("group: no such group \"%s\"", cfg->group);
            return -1;
        }
        ids->gid = gr->gr_gid;
    }
    ids->change = ids->uid != 0 || ids->gid != 0;
    return 0;
}

static int main_drop(const struct main_ids *ids)
{
    if (!ids->change)
        return 0;
    if (initgroups(ids->name, ids->gid) != 0 || setgid(ids->gid) != 0
        || setuid(ids->uid) != 0) {
        log_err("cannot change to user %s: %s", ids->name, strerror(errno));
        return -1;
    }
    if (ids->uid != 0 && setuid(0) == 0) {
        log_err("privileges could be regained after dropping them; stopping");
        return -1;
    }
    log_info("running as user %s (uid %ld, gid %ld)", ids->name, (long)ids->uid,
             (long)ids->gid);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = CONFIG_DEFAULT_PATH;
    bool test = false, foreground = false;
    int opt;

    while ((opt = getopt(argc, argv, "c:ftVh")) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'f': foreground = true; break;
        case 't': test = true; break;
        case 'V': printf("outpostd %s\n", PACKAGE_VERSION); return 0;
        case 'h': main_usage(stdout); return 0;
        default:  main_usage(stderr); return 1;
        }
    }
    if (optind != argc) {
        main_usage(stderr);
        return 1;
    }

    struct config *cfg;
    char err[512];
    if (config_load(path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "outpostd: %s\n", err);
        if (!test)
            log_setup(LOG_T_SYSLOG, LOG_L_ERR, LOG_F_TEXT, LOG_MAIL, "outpostd");
        if (!test)
            log_err("%s", err);
        return 1;
    }
    if (test) {
        printf("%s: configuration ok (hash %s)\n", path, cfg->hash);
        config_unref(cfg);
        return 0;
    }

    signal(SIGPIPE, SIG_IGN);
    daemon_log_setup(cfg, foreground);

    struct main_ids ids;
    struct daemon d;
    if (main_resolve_ids(cfg, &ids) != 0) {
        config_unref(cfg);
        return 1;
    }
    if (daemon_init(&d, cfg, path, foreground, ids.uid, ids.gid) != 0
        || main_drop(&ids) != 0) {
        daemon_fini(&d);
        return 1;
    }
    int rc = daemon_run(&d);
    if (daemon_fini(&d) != 0)
        rc = 1;
    log_close();
    return rc;
}
