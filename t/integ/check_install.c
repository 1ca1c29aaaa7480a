/* check_install.c - the installed tree: `make install DESTDIR=...` of this
 * build directory ($T_BUILDDIR), then the installed outpostd started with
 * a copy of the installed example configuration whose paths point into the
 * test's directory (listen socket, a private Redis, policy_dir in the
 * staged pkgdatadir), answering a query; a second install keeps a changed
 * configuration; uninstall removes the configuration only while it is the
 * shipped one.
 *
 * The test runs make itself (with MAKEFLAGS and MAKELEVEL removed, so it
 * is not part of the calling make's job server): installing touches
 * nothing in the build directory, as every installed file is built before
 * `make check` runs the tests. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/tfix.h"

/* The test's daemon and redis-server; tfix.h keeps copies shared with the
 * runner for reaping. */
static struct tdaemon daemons[1];
static struct tredis redises[1];

static const char *env(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v != NULL && v[0] != '\0', "%s is not set (run through make check)", name);
    return v;
}

/* make -C $T_BUILDDIR TARGET DESTDIR=destdir, output to logpath; the exit
 * code (-1: it did not exit in 300 s). */
static int run_make(const char *target, const char *destdir, const char *logpath)
{
    char dd[512];
    snprintf(dd, sizeof dd, "DESTDIR=%s", destdir);
    const char *mk = getenv("T_MAKE");
    if (mk == NULL || mk[0] == '\0')
        mk = "make";
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int nul = open("/dev/null", O_RDONLY);
        if (fd < 0 || nul < 0)
            _exit(126);
        dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        unsetenv("MAKEFLAGS");
        unsetenv("MFLAGS");
        unsetenv("MAKELEVEL");
        unsetenv("DESTDIR");
        execlp(mk, mk, "-s", "-C", getenv("T_BUILDDIR"), target, dd, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    for (int i = 0; i < 300000 / 50; i++) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void make_ok(const char *target, const char *destdir, const char *logpath)
{
    int rc = run_make(target, destdir, logpath);
    if (rc != 0) {
        char *log = tfile_read(logpath);
        ck_abort_msg("make %s: exit %d:\n%s", target, rc, log ? log : "");
    }
}

START_TEST(installed_tree)
{
    const char *sbindir = env("T_SBINDIR"), *sysconfdir = env("T_SYSCONFDIR");
    const char *pkgdatadir = env("T_PKGDATADIR"), *policy = env("T_POLICY");
    env("T_BUILDDIR");

    struct tdaemon *d = &daemons[0];
    struct tredis *r = &redises[0];
    tdaemon_prepare(d, NULL, "");
    tfix_track_daemon(d);
    char root[256], makelog[256], conf[512], bin[512], pdir[512], path[600];
    snprintf(root, sizeof root, "%s/root", d->dir);
    snprintf(makelog, sizeof makelog, "%s/make.log", d->dir);
    snprintf(conf, sizeof conf, "%s%s/outpost/outpost.json", root, sysconfdir);
    snprintf(bin, sizeof bin, "%s%s/outpostd", root, sbindir);
    snprintf(pdir, sizeof pdir, "%s%s", root, pkgdatadir);

    /* install: binaries, policy files, the configuration (0640, the
     * shipped one) */
    make_ok("install", root, makelog);
    ck_assert_msg(access(bin, X_OK) == 0, "%s not installed", bin);
    snprintf(path, sizeof path, "%s%s/outpostctl", root, sbindir);
    ck_assert_msg(access(path, X_OK) == 0, "%s not installed", path);
    snprintf(path, sizeof path, "%s/decide.lua", pdir);
    ck_assert_msg(file_exists(path), "%s not installed", path);
    struct stat sb;
    ck_assert_msg(stat(conf, &sb) == 0, "%s not installed", conf);
    ck_assert_int_eq(sb.st_mode & 07777, 0640);
    snprintf(path, sizeof path, "%s/outpost.json", policy);
    char *shipped = tfile_read(path), *installed = tfile_read(conf);
    ck_assert_ptr_nonnull(shipped);
    ck_assert_ptr_nonnull(installed);
    ck_assert_msg(strcmp(shipped, installed) == 0, "installed config differs from %s", path);
    free(installed);

    /* the installed daemon, with the installed example configuration
     * pointed into the test's directory */
    tfix_start_redis(r, NULL);
    json_error_t jerr;
    json_t *cfg = json_load_file(conf, 0, &jerr);
    ck_assert_msg(cfg != NULL, "%s: %s", conf, jerr.text);
    char *htext = tdaemon_config(d, "");        /* user, group, socket as the harness */
    json_t *harness = json_loads(htext, 0, &jerr);
    free(htext);
    ck_assert_msg(harness != NULL, "harness config: %s", jerr.text);
    json_object_del(cfg, "user");
    json_object_del(cfg, "group");
    json_object_del(cfg, "socket");
    const char *k;
    json_t *v;
    json_object_foreach(harness, k, v)
        if (strcmp(k, "user") == 0 || strcmp(k, "group") == 0 || strcmp(k, "socket") == 0)
            json_object_set(cfg, k, v);
    json_decref(harness);
    char ep[600];
    snprintf(ep, sizeof ep, "unix:%s", d->sock);
    json_object_set_new(cfg, "listen", json_pack("[s]", ep));
    json_object_set_new(cfg, "log", json_pack("{s:s, s:s}", "target", "stderr",
                                              "level", "debug"));
    snprintf(ep, sizeof ep, "unix:%s", r->sock);
    json_object_set_new(json_object_get(cfg, "redis"), "address", json_string(ep));
    json_object_set_new(cfg, "policy_dir", json_string(pdir));
    ck_assert_int_eq(json_dump_file(cfg, d->cfg, JSON_INDENT(2)), 0);
    json_decref(cfg);

    /* the installed outpostctl writes the state marker */
    char ctl[512], out[4096], err[4096], stbuf[64];
    snprintf(ctl, sizeof ctl, "%s%s/outpostctl", root, sbindir);
    char *const init[] = { ctl, "-c", d->cfg, "init", "--by", "check_install", NULL };
    int st = trun(init, out, sizeof out, err, sizeof err, 20000);
    ck_assert_msg(st == 0, "outpostctl init: %s: %s", tstatus_str(st, stbuf, sizeof stbuf),
                  err);

    ck_assert_int_eq(setenv("OUTPOSTD", bin, 1), 0);
    tdaemon_launch(d);
    tfix_track_daemon(d);
    ck_assert_msg(tdaemon_log_wait(d, "redis: connected"), "no Redis connection");
    int fd = tconnect_unix(d->sock);
    ck_assert_int_ge(fd, 0);
    char action[256];
    tquery(fd, "protocol_state=RCPT\nsasl_username=ann\nsender=ann@example.net\n"
               "recipient=bob@example.org\n", action, sizeof action);
    ck_assert_str_eq(action, "DUNNO");
    close(fd);
    ck_assert_int_eq(tdaemon_stop(d), 0);
    ck_assert_msg(!tfile_contains(d->log, "error:"), "errors in the log:\n%s",
                  tdaemon_log_tail(d, 4000));
    tredis_stop(r);
    tfix_track_redis(r);

    /* a changed configuration survives a second install and uninstall */
    tfile_write(conf, "{ \"default_class\": \"local\" }\n");
    make_ok("install", root, makelog);
    char *now = tfile_read(conf);
    ck_assert_str_eq(now, "{ \"default_class\": \"local\" }\n");
    free(now);
    make_ok("uninstall", root, makelog);
    ck_assert_msg(!file_exists(bin), "%s left after uninstall", bin);
    ck_assert_msg(file_exists(conf), "changed %s removed by uninstall", conf);
    /* the shipped one is removed */
    tfile_write(conf, shipped);
    make_ok("uninstall", root, makelog);
    ck_assert_msg(!file_exists(conf), "shipped %s left after uninstall", conf);
    free(shipped);

    tfix_stop_all();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("install");
    tfix_init(daemons, 1, redises, 1);
    TCase *tc = tcase_create("install");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, tfix_setup, tfix_reap);
    tcase_add_test(tc, installed_tree);
    suite_add_tcase(s, tc);
    return tfix_run(s);
}
