/*
 * The stub: the agent's child that becomes the task.
 *
 * It is forked before the task is known, so the host can move it into the
 * task's fresh cgroup while the container is idle. Then it reads the task
 * from its control pipe, writes the task's files and stdin itself (so they
 * are charged to the task, as a `cp` inside a fresh container would be),
 * and execs the command with the task's environment, limits and working
 * directory. With K_LIVE_STDIN its stdin is the control pipe itself, which
 * the agent feeds as the host sends input (it reads nothing past GO). Nothing of the agent survives into the command: not its
 * descriptors, not its signal mask, not its ignored signals.
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LIMITS 16

static int status_fd = -1;

/* Tell the agent why the command never ran, and end. */
static void __attribute__((noreturn)) give_up(uint8_t kind, int err, const char *fmt, ...)
{
    uint8_t report[256];
    report[0] = kind;
    report[1] = (uint8_t)(err >> 24);
    report[2] = (uint8_t)(err >> 16);
    report[3] = (uint8_t)(err >> 8);
    report[4] = (uint8_t)err;
    va_list args;
    va_start(args, fmt);
    int len = vsnprintf((char *)report + 5, sizeof report - 5, fmt, args);
    va_end(args);
    if (len < 0)
        len = 0;
    if ((size_t)len > sizeof report - 6)
        len = (int)(sizeof report - 6);
    write_all(status_fd, report, 5 + (size_t)len);
    _exit(kind == END_EXEC ? 127 : 126);
}

/* close_range, or a loop where the kernel (or gVisor) lacks it. */
static void close_from(int low, int high)
{
    if (close_range((unsigned)low, high < 0 ? ~0U : (unsigned)high, 0) == 0)
        return;
    long top = high < 0 ? sysconf(_SC_OPEN_MAX) : high;
    for (long fd = low; fd <= top; fd++)
        close((int)fd);
}

/* Close every descriptor but the four this stub needs, and put /dev/null on 0, 1 and 2. */
static void keep_only(int *fds, int n)
{
    int high = 100;
    for (int i = 0; i < n; i++) {
        int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, high + i);
        if (moved < 0)
            _exit(126);
        fds[i] = moved;
    }
    close_from(0, high - 1);
    close_from(high + n, -1);
    for (int i = 0; i < 3; i++)
        if (open("/dev/null", O_RDWR) != i)
            _exit(126);
}

/* Open (creating as needed) each directory of `path` below `base`, never following a link. */
static int open_parent(int base, char *path, char **leaf)
{
    int dir = dup(base);
    char *part = path;
    for (char *slash; (slash = strchr(part, '/')); part = slash + 1) {
        *slash = 0;
        if (mkdirat(dir, part, 0755) < 0 && errno != EEXIST)
            give_up(END_STAGING, errno, "cannot create directory %s", path);
        int next = openat(dir, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            give_up(END_STAGING, errno, "cannot open directory %s", path);
        close(dir);
        dir = next;
        *slash = '/';
    }
    *leaf = part;
    return dir;
}

void stub_main(int ctl, int out, int err, int status)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    int fds[4] = {ctl, out, err, status};
    keep_only(fds, 4);
    ctl = fds[0], out = fds[1], err = fds[2], status_fd = fds[3];
    /* The task's user from here on (gVisor), so even its files are written as the task. */
    if (become_task() < 0)
        give_up(END_STAGING, errno, "cannot become the task's user");

    char *argv[4096 + 1];
    int argc = 0;
    const char *cwd = NULL;
    struct { int resource; struct rlimit limit; } limits[MAX_LIMITS];
    int nlimits = 0;
    int base = -1, file = -1, input = -1, live = 0;
    struct buf in = {0};
    static uint8_t chunk[65536];

    for (;;) {
        uint8_t type;
        const uint8_t *p;
        size_t n;
        while (!frame_take(&in, &type, &p, &n)) {
            ssize_t got = read(ctl, chunk, sizeof chunk);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                _exit(126); /* the agent withdrew the task */
            buf_put(&in, chunk, (size_t)got);
        }
        if (type == H_SPEC) {
            for (size_t i = 0; i + 5 <= n;) {
                uint8_t key = p[i];
                uint32_t len = get_u32(p + i + 1);
                const uint8_t *value = p + i + 5;
                if (len > n - i - 5)
                    give_up(END_STAGING, EINVAL, "malformed task specification");
                char *text = strndup((const char *)value, len);
                if (key == K_ARG && argc < 4096) {
                    argv[argc++] = text;
                } else if (key == K_ENV) {
                    char *eq = strchr(text, '=');
                    if (eq) {
                        *eq = 0;
                        setenv(text, eq + 1, 1);
                    }
                    free(text);
                } else if (key == K_CWD) {
                    cwd = text;
                } else if (key == K_LIVE_STDIN && len == 1) {
                    live = value[0] != 0;
                    free(text);
                } else if (key == K_RLIMIT && len == 17 && nlimits < MAX_LIMITS) {
                    limits[nlimits].resource = value[0];
                    limits[nlimits].limit.rlim_cur = get_u64(value + 1);
                    limits[nlimits].limit.rlim_max = get_u64(value + 9);
                    nlimits++;
                    free(text);
                } else {
                    free(text);
                }
                i += 5 + len;
            }
            argv[argc] = NULL;
            base = open(cwd ? cwd : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (base < 0)
                give_up(END_STAGING, errno, "cannot open the working directory");
        } else if (type == H_FILE && n > 4 && base >= 0) {
            if (file >= 0)
                close(file);
            mode_t mode = get_u32(p) & 07777;
            char *path = strndup((const char *)p + 4, n - 4), *leaf;
            int dir = open_parent(base, path, &leaf);
            file = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
            if (file < 0)
                give_up(END_STAGING, errno, "cannot create file %s", path);
            fchmod(file, mode);
            close(dir);
            free(path);
        } else if (type == H_DATA && file >= 0) {
            if (write_all(file, p, n) < 0)
                give_up(END_STAGING, errno, "cannot write the task's files");
        } else if (type == H_STDIN) {
            if (input < 0 && (input = memfd_create("stdin", MFD_CLOEXEC)) < 0)
                give_up(END_STAGING, errno, "cannot hold stdin");
            if (write_all(input, p, n) < 0)
                give_up(END_STAGING, errno, "cannot hold stdin");
        } else if (type == H_GO) {
            break;
        }
        if (in.off == in.len)
            buf_clear(&in);
    }

    if (argc == 0)
        give_up(END_STAGING, EINVAL, "no command was given");
    if (file >= 0)
        close(file);
    if (live) {
        if (input >= 0)
            close(input);
        input = ctl; /* the agent writes nothing more on it until the command runs */
    } else if (input < 0 && (input = memfd_create("stdin", MFD_CLOEXEC)) < 0) {
        give_up(END_STAGING, errno, "cannot hold stdin");
    }
    lseek(input, 0, SEEK_SET);
    for (int i = 0; i < nlimits; i++)
        if (setrlimit(limits[i].resource, &limits[i].limit) < 0)
            give_up(END_STAGING, errno, "cannot set resource limit %d", limits[i].resource);
    umask(022);
    if (fchdir(base) < 0)
        give_up(END_STAGING, errno, "cannot enter the working directory");
    if (dup2(input, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        give_up(END_STAGING, errno, "cannot set up stdin and stdout");
    /* Keep only the status pipe, which execve closes (O_CLOEXEC) when it succeeds. */
    if (status_fd != 3 && dup3(status_fd, 3, O_CLOEXEC) == 3)
        status_fd = 3;
    close_from(4, -1);
    execvp(argv[0], argv);
    give_up(END_EXEC, errno, "%s", argv[0]);
}
