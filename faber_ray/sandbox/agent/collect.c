/*
 * Copy-out, done inside the sandbox after the task's processes are gone.
 *
 * The host never opens a path a task made (go-judge #176 read host files
 * through a planted symlink). Instead the agent lists the working directory
 * with lstat semantics and, for each file the host then asks for, opens every
 * component with O_NOFOLLOW, opens the file itself with O_NONBLOCK (a FIFO
 * must never block), and checks with fstat that it is one regular file of
 * acceptable size before reading a byte. The host decides which files to
 * ask for, from the listing; only the agent touches the tree.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIST_DEPTH 64

static uint8_t kind_of(mode_t mode)
{
    if (S_ISREG(mode))
        return E_FILE;
    if (S_ISDIR(mode))
        return E_DIR;
    if (S_ISLNK(mode))
        return E_SYMLINK;
    if (S_ISFIFO(mode))
        return E_FIFO;
    if (S_ISSOCK(mode))
        return E_SOCKET;
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return E_DEVICE;
    return E_OTHER;
}

struct walk {
    int fd;
    size_t prefix; /* length of this directory's path (with its trailing slash) */
    uint8_t buf[4096];
    long pos, len;
};

void list_tree(const char *root, const uint8_t *payload, size_t n)
{
    uint32_t max_entries = n >= 8 ? get_u32(payload) : 10000;
    uint32_t max_depth = n >= 8 ? get_u32(payload + 4) : LIST_DEPTH;
    if (max_depth > LIST_DEPTH)
        max_depth = LIST_DEPTH;
    static struct walk stack[LIST_DEPTH + 1];
    static char path[PATH_MAX];
    struct buf batch = {0};
    uint32_t listed = 0;
    uint8_t truncated = 0;
    int depth = 0;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
        stack[depth++] = (struct walk){.fd = fd, .prefix = 0};
    while (depth > 0) {
        struct walk *top = &stack[depth - 1];
        if (top->pos >= top->len) {
            top->len = getdents64(top->fd, top->buf, sizeof top->buf);
            top->pos = 0;
            if (top->len <= 0) {
                close(top->fd);
                depth--;
                continue;
            }
        }
        struct linux_dirent64 *d = (struct linux_dirent64 *)(top->buf + top->pos);
        top->pos += d->d_reclen;
        if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
            continue;
        size_t name_len = strlen(d->d_name);
        if (top->prefix + name_len + 2 > sizeof path || listed >= max_entries) {
            truncated = 1;
            continue;
        }
        memcpy(path + top->prefix, d->d_name, name_len + 1);
        struct stat st;
        if (fstatat(top->fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        uint8_t kind = kind_of(st.st_mode);
        size_t path_len = top->prefix + name_len;
        buf_u8(&batch, kind);
        buf_u64(&batch, (uint64_t)st.st_size);
        buf_u32(&batch, (uint32_t)st.st_nlink);
        buf_u16(&batch, (uint16_t)path_len);
        buf_put(&batch, path, path_len);
        listed++;
        if (batch.len > 60000) {
            send_frame(A_ENTRIES, batch.data, batch.len);
            buf_clear(&batch);
        }
        if (kind == E_DIR) {
            if ((uint32_t)depth > max_depth) {
                truncated = 1;
                continue;
            }
            int child = openat(top->fd, d->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child < 0)
                continue; /* unreadable (chmod 000): listed, never entered */
            path[path_len] = '/';
            stack[depth] = (struct walk){.fd = child, .prefix = path_len + 1};
            depth++;
        }
    }
    if (batch.len)
        send_frame(A_ENTRIES, batch.data, batch.len);
    free(batch.data);
    send_frame(A_LISTED, &truncated, 1);
}

static void refuse(const char *reason)
{
    send_text(A_REFUSED, reason);
}

void read_file(const char *root, const uint8_t *payload, size_t n)
{
    if (n < 9)
        return refuse("malformed request");
    uint64_t max_size = get_u64(payload);
    char *path = strndup((const char *)payload + 8, n - 8);
    char reason[128];
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    char *part = path, *slash;
    while (dir >= 0 && (slash = strchr(part, '/'))) {
        *slash = 0;
        int next = (!strcmp(part, "..") || !*part) ? -1
                   : openat(dir, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(dir);
        dir = next;
        part = slash + 1;
    }
    if (dir < 0) {
        free(path);
        return refuse("a directory on its path is not a plain directory");
    }
    int fd = openat(dir, part, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    int open_errno = errno;
    close(dir);
    free(path);
    if (fd < 0) {
        if (open_errno == ELOOP)
            return refuse("a symbolic link");
        if (open_errno == ENXIO)
            return refuse("a socket");
        snprintf(reason, sizeof reason, "cannot be opened: %s", strerror(open_errno));
        return refuse(reason);
    }
    struct stat st = {0};
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        static const char *names[] = {"", "", "a directory", "a symbolic link", "a FIFO", "a socket", "a device",
                                      "not a regular file"};
        return refuse(names[kind_of(st.st_mode)]);
    }
    if (st.st_nlink > 1) {
        close(fd);
        snprintf(reason, sizeof reason, "a hard link (%lu names for one file)", (unsigned long)st.st_nlink);
        return refuse(reason);
    }
    if ((uint64_t)st.st_size > max_size) {
        close(fd);
        snprintf(reason, sizeof reason, "%lld bytes, over the %llu bytes still allowed", (long long)st.st_size,
                 (unsigned long long)max_size);
        return refuse(reason);
    }
    struct buf head = {0};
    buf_u64(&head, (uint64_t)st.st_size);
    send_frame(A_FILE, head.data, head.len);
    free(head.data);
    /* Allocated for this file and freed after it: no task's file stays in the agent's memory. */
    const size_t size = 1u << 20;
    uint8_t *chunk = malloc(size);
    if (!chunk)
        fatal("out of memory");
    uint64_t left = (uint64_t)st.st_size;
    while (left > 0) {
        ssize_t got = read(fd, chunk, left < size ? (size_t)left : size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        send_frame(A_DATA, chunk, (size_t)got);
        left -= (uint64_t)got;
    }
    free(chunk);
    close(fd);
    /* A file that shrank is padded so the host always receives the size it was told. */
    static const uint8_t zeros[4096];
    while (left > 0) {
        size_t part_len = left < sizeof zeros ? (size_t)left : sizeof zeros;
        send_frame(A_DATA, zeros, part_len);
        left -= part_len;
    }
}
