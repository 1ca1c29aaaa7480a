/* tlib.c - test helpers (see tlib.h). */
#define _XOPEN_SOURCE 700  /* nftw() */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tlib.h"

static long tlib_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void tdir_make(char *out)
{
    snprintf(out, 64, "/tmp/opt.XXXXXX");
    ck_assert_msg(mkdtemp(out) != NULL, "mkdtemp: %s", strerror(errno));
    chmod(out, 0755);
}

static int tlib_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

void tdir_remove(const char *dir)
{
    if (dir[0] != '\0')
        nftw(dir, tlib_rm, 16, FTW_DEPTH | FTW_PHYS);
}

void tfile_write(const char *path, const char *content)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    ck_assert_msg(f != NULL, "fopen %s: %s", tmp, strerror(errno));
    fputs(content, f);
    ck_assert_int_eq(fclose(f), 0);
    chmod(tmp, 0644);
    ck_assert_int_eq(rename(tmp, path), 0);   /* atomic for reload tests */
}

char *tfile_read(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 20;
    char *buf = malloc(cap + 1);
    size_t n = fread(buf, 1, cap, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

char *tdaemon_config(const struct tdaemon *d, const char *extra)
{
    return tdaemon_config_listen(d, NULL, extra);
}

void tdaemon_rewrite(const struct tdaemon *d, const char *extra)
{
    char *text = tdaemon_config(d, extra);
    tfile_write(d->cfg, text);
    free(text);
}

void tdaemon_start(struct tdaemon *d, const char *extra)
{
    tdaemon_start_listen(d, NULL, extra);
}

/* sig to our child pid, waited for up to timeout_ms, then SIGKILL;
 * returns its wait status. */
static int tlib_stop_child(pid_t pid, int sig, long timeout_ms)
{
    int st = -1;
    kill(pid, sig);
    long until = tlib_now_ms() + timeout_ms;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (tlib_now_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        usleep(5000);
    }
    return st;
}

int tdaemon_stop(struct tdaemon *d)
{
    if (d->pid <= 0)
        return d->status;
    d->status = tlib_stop_child(d->pid, SIGTERM, 10000);
    d->pid = 0;
    return d->status;
}

void tdaemon_cleanup(struct tdaemon *d)
{
    tdaemon_stop(d);
    tdir_remove(d->dir);
}

bool tdaemon_log_wait(const struct tdaemon *d, const char *needle)
{
    long until = tlib_now_ms() + 5000;
    do {
        char *log = tfile_read(d->log);
        bool found = log != NULL && strstr(log, needle) != NULL;
        free(log);
        if (found)
            return true;
        usleep(10000);
    } while (tlib_now_ms() < until);
    return false;
}

long tdaemon_rss_kb(const struct tdaemon *d)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)d->pid);
    char *s = tfile_read(path);
    ck_assert_msg(s != NULL, "cannot read %s", path);
    char *p = strstr(s, "VmRSS:");
    long kb = p ? strtol(p + 6, NULL, 10) : -1;
    free(s);
    return kb;
}

int tconnect_unix(const char *path)
{
    struct sockaddr_un sun;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int tconnect_tcp(const char *host, int port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (strchr(host, ':') != NULL) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return -1;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return -1;
        len = sizeof *a;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

bool twrite_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

ssize_t tread_reply(int fd, char *out, size_t cap, int timeout_ms)
{
    size_t got = 0;
    long until = tlib_now_ms() + timeout_ms;
    out[0] = '\0';
    while (got + 1 < cap) {
        struct pollfd p = { fd, POLLIN, 0 };
        long left = until - tlib_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        ssize_t n = recv(fd, out + got, cap - 1 - got, 0);
        if (n < 0)
            return -1;
        if (n == 0)
            return (ssize_t)got;
        got += (size_t)n;
        out[got] = '\0';
        if (strstr(out, "\n\n") != NULL)
            return (ssize_t)got;
    }
    return (ssize_t)got;
}

bool tpeer_closed(int fd, int timeout_ms)
{
    char buf[4096];
    long until = tlib_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        long left = until - tlib_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return true;        /* EOF or reset */
    }
}

void tquery(int fd, const char *attrs, char *out, size_t cap)
{
    char req[65536], rep[1024];
    int n = snprintf(req, sizeof req, "request=smtpd_access_policy\n%s\n", attrs);
    out[0] = '\0';
    if (n <= 0 || (size_t)n >= sizeof req || !twrite_all(fd, req, (size_t)n))
        return;
    if (tread_reply(fd, rep, sizeof rep, 5000) <= 0)
        return;
    char *end = strstr(rep, "\n\n");
    if (strncmp(rep, "action=", 7) != 0 || end == NULL)
        return;
    *end = '\0';
    snprintf(out, cap, "%s", rep + 7);
}

/* ---- daemons left behind by a failed test, custom starts, logs, commands */

void *tshared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    ck_assert_msg(p != MAP_FAILED, "mmap %zu bytes: %s", size, strerror(errno));
    memset(p, 0, size);
    return p;
}

void tshared_free(void *p, size_t size)
{
    if (p != NULL)
        munmap(p, size);
}

/* True while pid has not ended: a child of ours that has not been reaped,
 * or (not ours, e.g. orphaned) a /proc entry that is not a zombie. */
static bool tlib_alive(pid_t pid)
{
    int st;
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid)
        return false;
    if (w == 0)
        return true;
    char state = tproc_state(pid);
    return state != '\0' && state != 'Z' && state != 'X';
}

char tproc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return '\0';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp != NULL && rp[1] == ' ' ? rp[2] : '\0';
}

/* True if pid runs outpostd (argv[0] as tdaemon_start() sets it). */
static bool tlib_is_outpostd(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    char *cmd = tfile_read(path);
    bool yes = cmd != NULL && strcmp(cmd, "outpostd") == 0;
    free(cmd);
    return yes;
}

/* SIGTERM, up to 5 s; then SIGKILL, up to 2 s.  For a PID that is not our
 * child (the runner reaps a test's leftovers), so it only polls. */
static void tlib_terminate(pid_t pid)
{
    kill(pid, SIGTERM);
    long until = tlib_now_ms() + 5000;
    while (tlib_alive(pid) && tlib_now_ms() < until)
        usleep(10000);
    if (tlib_alive(pid)) {
        kill(pid, SIGKILL);
        until = tlib_now_ms() + 2000;
        while (tlib_alive(pid) && tlib_now_ms() < until)
            usleep(10000);
    }
}

void tdaemon_reap(struct tdaemon *d)
{
    if (d->pid > 0 && tlib_alive(d->pid) && tlib_is_outpostd(d->pid))
        tlib_terminate(d->pid);
    tdir_remove(d->dir);
    memset(d, 0, sizeof *d);
}

/* The checkout may be unreadable for the user the daemon drops to (a
 * clone under /root, or in a 0700 mktemp directory): the daemon gets its
 * own copy of the Lua files, in dir/policy (0755, files 0644). */
void tpolicy_copy(const char *dir, char *out, size_t cap)
{
    static const char *const files[] = { "decide.lua", "undo.lua", "outpost.lua" };
    const char *src = getenv("T_POLICY");
    ck_assert_msg(src != NULL, "T_POLICY is not set (run through make check)");
    snprintf(out, cap, "%s/policy", dir);
    if (mkdir(out, 0755) != 0)
        ck_assert_msg(errno == EEXIST, "mkdir %s: %s", out, strerror(errno));
    chmod(out, 0755);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char from[512], to[512];
        snprintf(from, sizeof from, "%s/%s", src, files[i]);
        snprintf(to, sizeof to, "%s/%s", out, files[i]);
        char *text = tfile_read(from);
        ck_assert_msg(text != NULL, "cannot read %s", from);
        tfile_write(to, text);
        free(text);
    }
}

/* Root: the daemon drops to nobody/nogroup.  Not root: it keeps the
 * user, and the socket gets the user's own group (the default "postfix"
 * may not exist, or not be ours). */
char *tdaemon_config_listen(const struct tdaemon *d, const char *listen_json,
                            const char *extra)
{
    char listen[256], ids[256];
    if (listen_json == NULL) {
        snprintf(listen, sizeof listen, "[\"unix:%s\"]", d->sock);
        listen_json = listen;
    }
    if (geteuid() == 0) {
        snprintf(ids, sizeof ids, "\"user\": \"nobody\", \"group\": \"nogroup\","
                 " \"socket\": {\"group\": \"nogroup\"},");
    } else {
        struct group *gr = getgrgid(getegid());
        ck_assert_msg(gr != NULL, "no name for gid %ld", (long)getegid());
        snprintf(ids, sizeof ids, "\"socket\": {\"group\": \"%s\"},", gr->gr_name);
    }
    /* Never the host's Redis: a private one if the test gives it, else a
     * socket nobody listens on (decisions then take failure_action). */
    char redis[512] = "";
    const char *policy = getenv("T_POLICY");
    if (strstr(extra, "\"redis\"") == NULL)
        snprintf(redis, sizeof redis, "\"redis\": {\"address\": \"unix:%s/no-redis.sock\"},",
                 d->dir);
    if (strstr(extra, "\"policy_dir\"") == NULL && policy != NULL) {
        char pdir[128];
        tpolicy_copy(d->dir, pdir, sizeof pdir);
        snprintf(redis + strlen(redis), sizeof redis - strlen(redis),
                 " \"policy_dir\": \"%s\",", pdir);
    }
    char *out = malloc(8192 + strlen(extra) + strlen(listen_json));
    sprintf(out,
            "{\n"
            "  \"listen\": %s,\n"
            "  %s\n"
            "  %s\n"
            "  \"log\": {\"target\": \"stderr\", \"level\": \"debug\"},\n"
            "  \"default_class\": \"standard\",\n"
            "  %s\n"
            "  \"classes\": {\"standard\": {}}\n"
            "}\n",
            listen_json, ids, redis, extra);
    return out;
}

void tdaemon_prepare(struct tdaemon *d, const char *listen_json, const char *extra)
{
    memset(d, 0, sizeof *d);
    tdir_make(d->dir);
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("nobody");
        ck_assert_msg(pw != NULL, "no user nobody");
        ck_assert_int_eq(chown(d->dir, pw->pw_uid, (gid_t)-1), 0);
    }
    snprintf(d->sock, sizeof d->sock, "%s/outpost.sock", d->dir);
    snprintf(d->cfg, sizeof d->cfg, "%s/outpost.json", d->dir);
    snprintf(d->log, sizeof d->log, "%s/outpostd.log", d->dir);
    char *text = tdaemon_config_listen(d, listen_json, extra);
    tfile_write(d->cfg, text);
    free(text);
}

void tdaemon_launch(struct tdaemon *d)
{
    const char *bin = getenv("OUTPOSTD");
    ck_assert_msg(bin != NULL, "OUTPOSTD is not set (run through make check)");
    pid_t pid = fork();         /* not d->pid = fork(): d may be shared memory */
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execl(bin, "outpostd", "-f", "-c", d->cfg, (char *)NULL);
        _exit(127);
    }
    d->pid = pid;
    long until = tlib_now_ms() + 5000;
    while (tlib_now_ms() < until) {
        if (tfile_contains(d->log, " started (config "))
            return;
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            char *log = tfile_read(d->log);
            d->pid = 0;
            ck_abort_msg("outpostd exited at start (status %d): %s", st, log ? log : "");
        }
        usleep(10000);
    }
    ck_abort_msg("outpostd did not log \"started\" within 5 s (log %s)", d->log);
}

void tdaemon_start_listen(struct tdaemon *d, const char *listen_json,
                          const char *extra)
{
    tdaemon_prepare(d, listen_json, extra);
    tdaemon_launch(d);
}

int tdaemon_run_wait(const struct tdaemon *d, const char *logpath, int timeout_ms)
{
    const char *bin = getenv("OUTPOSTD");
    ck_assert_msg(bin != NULL, "OUTPOSTD is not set (run through make check)");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(bin, "outpostd", "-f", "-c", d->cfg, (char *)NULL);
        _exit(127);
    }
    int st = -1;
    long until = tlib_now_ms() + timeout_ms;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (tlib_now_ms() > until) {
            kill(pid, SIGTERM);
            usleep(200000);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep(5000);
    }
    return st;
}

int tdaemon_run_fail(struct tdaemon *d, const char *extra, const char *pre_existing)
{
    tdaemon_prepare(d, NULL, extra);
    if (pre_existing != NULL) {
        FILE *f = fopen(d->sock, "w");
        ck_assert_msg(f != NULL, "fopen %s: %s", d->sock, strerror(errno));
        fputs(pre_existing, f);
        ck_assert_int_eq(fclose(f), 0);
    }
    return tdaemon_run_wait(d, d->log, 10000);
}

/* memmem() without _GNU_SOURCE. */
static const char *tlib_find(const char *hay, size_t n, const char *needle, size_t k)
{
    if (k == 0)
        return hay;
    for (size_t i = 0; i + k <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0)
            return hay + i;
    return NULL;
}

/* Scans path from byte `from` on; returns the offset just past the first
 * needle, or -1; *end gets the offset where a later scan may resume. */
static long tlib_scan(const char *path, long from, const char *needle, long *end)
{
    size_t k = strlen(needle);
    size_t chunk = 1 << 16;
    char *buf = malloc(chunk + k);
    long found = -1, pos = from;
    size_t keep = 0;
    FILE *f = fopen(path, "r");

    *end = from;
    if (f == NULL || buf == NULL || fseek(f, from, SEEK_SET) != 0) {
        if (f != NULL)
            fclose(f);
        free(buf);
        return -1;
    }
    for (;;) {
        size_t n = fread(buf + keep, 1, chunk, f);
        size_t have = keep + n;
        const char *hit = tlib_find(buf, have, needle, k);
        if (hit != NULL) {
            found = pos - (long)keep + (long)(hit - buf) + (long)k;
            break;
        }
        pos += (long)n;
        if (n == 0)
            break;
        keep = have < k ? have : k - 1;
        if (k == 0)
            keep = 0;
        memmove(buf, buf + have - keep, keep);
    }
    *end = pos - (long)keep;
    if (*end < from)
        *end = from;
    fclose(f);
    free(buf);
    return found;
}

bool tfile_contains(const char *path, const char *needle)
{
    long end;
    return tlib_scan(path, 0, needle, &end) >= 0;
}

bool tdaemon_log_wait_from(const struct tdaemon *d, long *offset,
                           const char *needle, int timeout_ms)
{
    long until = tlib_now_ms() + timeout_ms, pos = *offset;
    do {
        long end;
        long hit = tlib_scan(d->log, pos, needle, &end);
        if (hit >= 0) {
            *offset = hit;
            return true;
        }
        pos = end;
        usleep(10000);
    } while (tlib_now_ms() < until);
    return false;
}

char *tdaemon_log_tail(const struct tdaemon *d, size_t max)
{
    return tfile_tail_dup(d->log, max);
}

char *tfile_tail_dup(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    char *out = malloc(max + 1);
    size_t n = 0;
    if (f != NULL) {
        if (fseek(f, 0, SEEK_END) == 0) {
            long size = ftell(f);
            fseek(f, size > (long)max ? size - (long)max : 0, SEEK_SET);
        }
        n = fread(out, 1, max, f);
        fclose(f);
    }
    out[n] = '\0';
    return out;
}

int trun(char *const argv[], char *out, size_t outcap, char *err, size_t errcap,
         int timeout_ms)
{
    int po[2], pe[2];
    if (out != NULL && outcap > 0)
        out[0] = '\0';
    if (err != NULL && errcap > 0)
        err[0] = '\0';
    if (pipe(po) != 0)
        return -1;
    if (pipe(pe) != 0) {
        close(po[0]);
        close(po[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);

    struct { int fd; char *buf; size_t cap, len; } s[2] = {
        { po[0], out, out ? outcap : 0, 0 }, { pe[0], err, err ? errcap : 0, 0 }
    };
    long until = tlib_now_ms() + timeout_ms;
    bool timed_out = false;
    while (s[0].fd >= 0 || s[1].fd >= 0) {
        struct pollfd p[2] = { { s[0].fd, POLLIN, 0 }, { s[1].fd, POLLIN, 0 } };
        long left = until - tlib_now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        if (poll(p, 2, (int)left) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            char tmp[4096];
            if (s[i].fd < 0 || p[i].revents == 0)
                continue;
            ssize_t n = read(s[i].fd, tmp, sizeof tmp);
            if (n <= 0) {
                close(s[i].fd);
                s[i].fd = -1;
                continue;
            }
            size_t room = s[i].cap > s[i].len + 1 ? s[i].cap - s[i].len - 1 : 0;
            size_t take = (size_t)n < room ? (size_t)n : room;
            memcpy(s[i].buf + s[i].len, tmp, take);
            s[i].len += take;
            if (s[i].cap > 0)
                s[i].buf[s[i].len] = '\0';
        }
    }
    for (int i = 0; i < 2; i++)
        if (s[i].fd >= 0)
            close(s[i].fd);

    int st = -1;
    while (!timed_out && waitpid(pid, &st, WNOHANG) == 0) {
        if (tlib_now_ms() > until)
            timed_out = true;
        else
            usleep(2000);
    }
    if (timed_out) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return -1;
    }
    return st;
}

const char *tstatus_str(int status, char *buf, size_t cap)
{
    if (status == -1)
        snprintf(buf, cap, "timeout (killed)");
    else if (WIFEXITED(status))
        snprintf(buf, cap, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "status 0x%x", (unsigned)status);
    return buf;
}

void tredis_start(struct tredis *r, const char *const *args)
{
    memset(r, 0, sizeof *r);
    tdir_make(r->dir);
    snprintf(r->sock, sizeof r->sock, "%s/redis.sock", r->dir);
    snprintf(r->log, sizeof r->log, "%s/redis.log", r->dir);
    tredis_restart_args(r, args);
}

void tredis_stop(struct tredis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGCONT);          /* a test may have stopped it */
        tlib_stop_child(r->pid, SIGTERM, 5000);
        r->pid = 0;
    }
    tdir_remove(r->dir);
    r->dir[0] = '\0';
}

int tredis_cli(const struct tredis *r, char *out, size_t cap, ...)
{
    const char *argv[64];
    int n = 0, pfd[2];
    va_list ap;

    argv[n++] = "redis-cli";
    argv[n++] = "-s";
    argv[n++] = r->sock;
    va_start(ap, cap);
    for (const char *a; n < 62 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;

    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 2);
        }
        execvp("redis-cli", (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t got = 0;
    ssize_t k;
    while (got + 1 < cap && (k = read(pfd[0], out + got, cap - 1 - got)) > 0)
        got += (size_t)k;
    char sink[256];
    while (read(pfd[0], sink, sizeof sink) > 0)
        ;
    close(pfd[0]);
    out[got] = '\0';
    while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == ' '))
        out[--got] = '\0';
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- more of the private redis-server (t/integ/check_store.c) */

int tredis_kill(struct tredis *r, int sig)
{
    if (r->pid <= 0)
        return -1;
    kill(r->pid, SIGCONT);
    int st = tlib_stop_child(r->pid, sig, 5000);
    r->pid = 0;
    return st;
}

void tredis_restart_args(struct tredis *r, const char *const *args)
{
    const char *bin = getenv("REDIS_SERVER") ? getenv("REDIS_SERVER") : "redis-server";
    const char *argv[64];
    int n = 0;

    ck_assert_msg(r->pid == 0 && r->dir[0] != '\0',
                  "tredis_restart: redis-server %ld still running or no directory",
                  (long)r->pid);
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--unixsocket";
    argv[n++] = r->sock;
    argv[n++] = "--unixsocketperm";
    argv[n++] = "777";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--dir";
    argv[n++] = r->dir;
    argv[n++] = "--logfile";
    argv[n++] = r->log;
    for (; args != NULL && *args != NULL && n < 62; args++)
        argv[n++] = *args;
    argv[n] = NULL;

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
        }
        execvp(bin, (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    long until = tlib_now_ms() + 5000;
    while (tlib_now_ms() < until) {
        char out[64];
        if (tredis_cli(r, out, sizeof out, "PING", (char *)NULL) == 0
            && strcmp(out, "PONG") == 0)
            return;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            r->pid = 0;
            char *log = tfile_read(r->log);
            ck_abort_msg("redis-server (%s) exited at start (status %d): %s", bin, st,
                         log ? log : "(no log: is redis-server installed?)");
        }
        usleep(10000);
    }
    ck_abort_msg("redis-server did not answer PING within 5 s");
}

void tredis_restart(struct tredis *r)
{
    tredis_restart_args(r, NULL);
}

/* True if pid runs redis-server (its comm; redis rewrites its argv). */
static bool tlib_is_redis(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
    char *comm = tfile_read(path);
    bool yes = comm != NULL && strncmp(comm, "redis-server", 12) == 0;
    free(comm);
    return yes;
}

void tredis_reap(struct tredis *r)
{
    if (r->pid > 0 && tlib_alive(r->pid) && tlib_is_redis(r->pid)) {
        kill(r->pid, SIGCONT);          /* a test may have stopped it */
        tlib_terminate(r->pid);
    }
    tdir_remove(r->dir);
    memset(r, 0, sizeof *r);
}

/* ---- configs with classes of their own (t/integ/check_limits.c) */

/* Replaces the one occurrence of `from` in *text by `to` (reallocates). */
static void tlib_replace_once(char **text, const char *from, const char *to)
{
    char *at = strstr(*text, from);
    ck_assert_msg(at != NULL && strstr(at + strlen(from), from) == NULL,
                  "tdaemon_config_classes: the harness config does not hold \"%s\" once",
                  from);
    size_t head = (size_t)(at - *text), tail = strlen(at + strlen(from));
    char *out = malloc(head + strlen(to) + tail + 1);
    ck_assert_ptr_nonnull(out);
    memcpy(out, *text, head);
    memcpy(out + head, to, strlen(to));
    memcpy(out + head + strlen(to), at + strlen(from), tail + 1);
    free(*text);
    *text = out;
}

char *tdaemon_config_classes(const struct tdaemon *d, const char *listen_json,
                             const char *extra, const char *default_class,
                             const char *classes_json)
{
    char *text = tdaemon_config_listen(d, listen_json, extra);
    char *dc = malloc(strlen(default_class) + 32);
    char *cl = malloc(strlen(classes_json) + 32);
    ck_assert_ptr_nonnull(dc);
    ck_assert_ptr_nonnull(cl);
    sprintf(dc, "\"default_class\": \"%s\",", default_class);
    sprintf(cl, "\"classes\": %s", classes_json);
    tlib_replace_once(&text, "\"default_class\": \"standard\",", dc);
    tlib_replace_once(&text, "\"classes\": {\"standard\": {}}", cl);
    free(dc);
    free(cl);
    return text;
}

void tdaemon_prepare_classes(struct tdaemon *d, const char *listen_json, const char *extra,
                             const char *default_class, const char *classes_json)
{
    tdaemon_prepare(d, listen_json, extra);
    char *text = tdaemon_config_classes(d, listen_json, extra, default_class, classes_json);
    tfile_write(d->cfg, text);
    free(text);
}
