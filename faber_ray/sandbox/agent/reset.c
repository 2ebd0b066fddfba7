/*
 * Reset between tasks, as go-judge does it: every process is already gone
 * (the agent killed and reaped them when the task ended); here the writable
 * mounts are emptied and SysV IPC is removed (ipc.c), then the result is checked.
 *
 * Every path is absolute (go-judge once wiped relative paths and so cleared
 * nothing), and nothing here follows a link: directories are opened with
 * O_NOFOLLOW relative to their parent. Deletion is iterative with a fixed
 * depth; a deeper directory is moved up to the mount's top and emptied from
 * there, so no tree is too deep to remove. Any doubt is reported, and the
 * host then recycles the container instead of reusing it.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define MAX_DEPTH 32
#define TMPFS_MAGIC 0x01021994

struct level {
    int fd;
    char name[256]; /* this directory's name in its parent */
    uint8_t buf[4096];
    long pos, len;
    int rescanned;
};

static struct level levels[MAX_DEPTH];

/* The next entry other than . and .., or NULL when the directory is empty. */
static const char *next_entry(struct level *l)
{
    for (;;) {
        if (l->pos >= l->len) {
            l->len = getdents64(l->fd, l->buf, sizeof l->buf);
            l->pos = 0;
            if (l->len <= 0) {
                if (l->rescanned)
                    return NULL;
                /* Deleting while reading may skip entries: read once more from the start. */
                l->rescanned = 1;
                lseek(l->fd, 0, SEEK_SET);
                continue;
            }
        }
        struct linux_dirent64 *d = (struct linux_dirent64 *)(l->buf + l->pos);
        l->pos += d->d_reclen;
        if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
            l->rescanned = 0;
            return d->d_name;
        }
    }
}

static int fail(char *msg, size_t len, const char *what, const char *path, int err)
{
    snprintf(msg, len, "%s %s: %s", what, path, strerror(err));
    return -1;
}

/* Remove everything below `root`, leaving `root` itself; *removed counts what went. */
static int empty_dir(const char *root, char *msg, size_t msglen, int *removed)
{
    int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root_fd < 0)
        return fail(msg, msglen, "cannot open", root, errno);
    int depth = 1, moved = 0;
    levels[0] = (struct level){.fd = root_fd};
    while (depth > 0) {
        struct level *top = &levels[depth - 1];
        const char *name = next_entry(top);
        if (!name) {
            close(top->fd);
            depth--;
            if (depth > 0 && unlinkat(levels[depth - 1].fd, top->name, AT_REMOVEDIR) < 0)
                return fail(msg, msglen, "cannot remove a directory in", root, errno);
            continue;
        }
        (*removed)++;
        if (unlinkat(top->fd, name, 0) == 0)
            continue;
        if (errno != EISDIR && errno != EPERM)
            return fail(msg, msglen, "cannot remove a file in", root, errno);
        /* A directory: make it ours to empty even if the task locked it (chmod 000). */
        fchmodat(top->fd, name, 0700, 0);
        if (depth == MAX_DEPTH) {
            char flat[64];
            snprintf(flat, sizeof flat, ".faber-ray-deep-%d", moved++);
            if (renameat(top->fd, name, root_fd, flat) < 0)
                return fail(msg, msglen, "cannot flatten a deep directory in", root, errno);
            continue;
        }
        int fd = openat(top->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return fail(msg, msglen, "cannot open a directory in", root, errno);
        struct level *next = &levels[depth++];
        next->fd = fd;
        next->pos = next->len = 0;
        next->rescanned = 0;
        snprintf(next->name, sizeof next->name, "%s", name);
    }
    return 0;
}

/* Check that `root` is empty and, for a tmpfs, that all its space is free again.
 * (`listed`: nothing was there to remove, so only the space needs checking.) */
static int check_empty(const char *root, char *msg, size_t msglen, int listed)
{
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(msg, msglen, "cannot open", root, errno);
    struct level l = {.fd = fd, .rescanned = 1};
    const char *left = listed ? NULL : next_entry(&l);
    struct statfs fs;
    int rc = fstatfs(fd, &fs);
    close(fd);
    if (left) {
        snprintf(msg, msglen, "%s still holds %.100s", root, left);
        return -1;
    }
    if (rc == 0 && (long)fs.f_type == TMPFS_MAGIC && fs.f_blocks > 0 && fs.f_bfree != fs.f_blocks) {
        snprintf(msg, msglen, "%s has %llu blocks in use after the wipe", root,
                 (unsigned long long)(fs.f_blocks - fs.f_bfree));
        return -1;
    }
    return 0;
}

/* Processes in this namespace other than the agent (PID 1). */
int count_processes(void)
{
    DIR *proc = opendir("/proc");
    if (!proc)
        return -1;
    int others = 0;
    for (struct dirent *d; (d = readdir(proc));) {
        char *end;
        long pid = strtol(d->d_name, &end, 10);
        if (*end == 0 && pid > 1)
            others++;
    }
    closedir(proc);
    return others;
}

int only_init_left(void) { return count_processes() == 0; }

/* Whether a writable mount holds `fsize_limit` bytes (within a block) or is full: what a real SIGXFSZ
 * leaves behind, so a shell's exit 153 is believed to pass one on; a plain `exit 153` is the program's own. */
int space_used_up(char *const *dirs, int ndirs, uint64_t fsize_limit)
{
    for (int i = 0; i < ndirs; i++) {
        struct statfs fs;
        if (statfs(dirs[i], &fs) < 0 || fs.f_blocks == 0)
            continue;
        uint64_t used = (uint64_t)(fs.f_blocks - fs.f_bfree) * (uint64_t)fs.f_bsize;
        if (fs.f_bfree == 0 || (fsize_limit && used + (uint64_t)fs.f_bsize >= fsize_limit))
            return 1;
    }
    return 0;
}

/* Empty `root` and prove it empty (and, for a tmpfs, all its space free again). */
int wipe_dir(const char *root, char *msg, size_t msglen)
{
    int removed = 0;
    if (empty_dir(root, msg, msglen, &removed) < 0 || check_empty(root, msg, msglen, removed == 0) < 0)
        return -1;
    return 0;
}

int reset_sandbox(char *const *dirs, int ndirs, char *msg, size_t msglen)
{
    if (!only_init_left()) {
        snprintf(msg, msglen, "processes of the last task are still running");
        return -1;
    }
    for (int i = 0; i < ndirs; i++)
        if (wipe_dir(dirs[i], msg, msglen) < 0)
            return -1;
    return clear_sysv(msg, msglen);
}
