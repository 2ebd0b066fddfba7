/*
 * faber-ray sandbox agent: PID 1 of every sandbox container.
 *
 * It runs one task at a time as its child, the way go-judge's container init
 * does, so that a container can serve many tasks without `docker exec`:
 *
 *   PREPARE  fork a stub that waits on a pipe; the host moves it into the
 *            task's own, freshly made cgroup (so every count starts at zero)
 *   SPEC..GO forward the task to the stub, which writes the files and stdin
 *            (charged to the task's cgroup) and execs the command
 *   ...      relay output, capped per stream; enforce the wall clock; with
 *            K_LIVE_STDIN, pass on the STDIN frames the host sends as the
 *            task runs (an interactive problem: the host wires two sandboxes)
 *   EXIT     when the command ends, kill every other process, drain the
 *            pipes, reap everything, remove what it left in IPC, and report
 *   RESET    between tasks: wipe the writable mounts and SysV IPC, then check
 *            that nothing is left (the host recycles the container otherwise)
 *
 * Under runc the agent runs as the same unprivileged user as the task, with
 * the same capabilities (none) and seccomp filter: it has nothing to hand
 * over. It is protected from the task by being PID 1 (the kernel drops
 * signals to it from inside its namespace) and by being non-dumpable (no
 * ptrace, no /proc/1/fd, no /proc/1/mem). gVisor honours neither for a task of
 * the same uid, so there the agent is root of gVisor's kernel with only
 * SETUID, SETGID and KILL, and each stub becomes the task's user (identity.c).
 * It exits when its channel to the host closes, which ends the container, so
 * nothing outlives its owner.
 *
 * The channel is the container's stdin and stdout (Docker's attach stream), or,
 * with -s, a unix socket the host listens on for this one connection: that
 * skips the engine on every message. The host stops listening once the agent
 * is connected, so nothing else in the container can ever connect.
 *
 * With -u UID:GID (gVisor) the agent is root of gVisor's kernel and each stub becomes that user
 * before anything of the task runs: see identity.c.
 *
 * Usage: agent [-s SOCKET] [-u UID:GID] WORKDIR [OTHER-WRITABLE-DIR ...]
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Buffers ------------------------------------------------------------------ */

/* A buffer larger than this is freed when its task ends; smaller ones are kept for the next. */
#define BUF_KEEP (64u << 10)

void buf_put(struct buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *grown = realloc(b->data, cap);
        if (!grown)
            fatal("out of memory");
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

void buf_u8(struct buf *b, uint8_t v) { buf_put(b, &v, 1); }

void buf_u16(struct buf *b, uint16_t v)
{
    uint8_t p[2] = {v >> 8, v};
    buf_put(b, p, 2);
}

void buf_u32(struct buf *b, uint32_t v)
{
    uint8_t p[4] = {v >> 24, v >> 16, v >> 8, v};
    buf_put(b, p, 4);
}

void buf_u64(struct buf *b, uint64_t v)
{
    buf_u32(b, v >> 32);
    buf_u32(b, (uint32_t)v);
}

void buf_clear(struct buf *b) { b->len = b->off = 0; }

/* Give a large buffer's memory back: nothing of one task's input may stay in the agent after it. */
static void buf_release(struct buf *b)
{
    if (b->cap > BUF_KEEP) {
        free(b->data);
        *b = (struct buf){0};
        malloc_trim(0); /* freed pages in the middle of the heap go back to the kernel too */
    } else {
        buf_clear(b);
    }
}

uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) << 32 | get_u32(p + 4); }

/* Frames ------------------------------------------------------------------- */

/* The channel to the host: stdin and stdout (the attach stream), or one unix socket. */
static int channel_in = 0, channel_out = 1;

int write_all(int fd, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A frame goes out in one writev, header and payload, without being copied into a buffer. */
void send_frame(uint8_t type, const void *payload, size_t n)
{
    uint8_t head[5] = {(uint8_t)((n + 1) >> 24), (uint8_t)((n + 1) >> 16), (uint8_t)((n + 1) >> 8),
                       (uint8_t)(n + 1), type};
    struct iovec parts[2] = {{head, sizeof head}, {(void *)payload, n}};
    struct iovec *at = parts;
    int count = 2;
    while (count > 0) {
        ssize_t w = writev(channel_out, at, count);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(0); /* the host is gone: so is the container */
        size_t done = (size_t)w;
        while (count > 0 && done >= at->iov_len) {
            done -= at->iov_len;
            at++;
            count--;
        }
        if (count > 0) {
            at->iov_base = (uint8_t *)at->iov_base + done;
            at->iov_len -= done;
        }
    }
}

void send_text(uint8_t type, const char *text) { send_frame(type, text, strlen(text)); }

void fatal(const char *fmt, ...)
{
    char msg[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    send_text(A_FATAL, msg);
    _exit(1);
}

int frame_take(struct buf *in, uint8_t *type, const uint8_t **payload, size_t *n)
{
    size_t have = in->len - in->off;
    if (have < 5)
        return 0;
    uint32_t length = get_u32(in->data + in->off);
    if (length == 0 || length > MAX_FRAME)
        fatal("bad frame length %u", length);
    if (have < 4 + (size_t)length)
        return 0;
    *type = in->data[in->off + 4];
    *payload = in->data + in->off + 5;
    *n = length - 1;
    in->off += 4 + (size_t)length;
    return 1;
}

/* Compact the buffer once everything in it was consumed, or when it is mostly consumed. */
static void buf_compact(struct buf *b)
{
    if (b->off == b->len) {
        buf_clear(b);
    } else if (b->off > (1u << 20)) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
}

/* The task ----------------------------------------------------------------- */

enum state { IDLE, STAGING, RUNNING, ENDING };

static struct {
    enum state state;
    pid_t pid;
    int ctl, out, err, status_fd; /* our ends of the stub's pipes; -1 when closed */
    struct buf forward;           /* frames on their way to the stub */
    struct buf input;             /* live stdin (K_LIVE_STDIN) on its way to the task, through ctl */
    int live, input_eof;          /* stdin is live; the host ended it */
    int go_queued, started;
    uint64_t timeout_ms, max_output, max_total, sample_ms;
    uint32_t peak_processes;
    struct timespec start, end, next_sample;
    int exited, wait_status;
    uint64_t seen[2], kept[2]; /* bytes written, and bytes sent on, per stream */
    uint8_t flags, end_kind;
    uint64_t cpu_rlimit_ms; /* the command's RLIMIT_CPU soft limit; 0 when none */
    uint64_t fsize_limit;   /* its RLIMIT_FSIZE soft limit; 0 when none */
    int32_t end_errno;
    char message[256];
} task;

static char **wipe_dirs;
static int wipe_count;

static uint64_t ns_between(const struct timespec *a, const struct timespec *b)
{
    int64_t ns = (int64_t)(b->tv_sec - a->tv_sec) * 1000000000 + (b->tv_nsec - a->tv_nsec);
    return ns > 0 ? (uint64_t)ns : 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Every process but this one: the task and anything it left. */
static void kill_all(void)
{
    kill(-1, SIGKILL);
    if (task.state != IDLE)
        task.state = ENDING;
}

static void prepare(void)
{
    int ctl[2], out[2], err[2], status[2];
    if (task.state != IDLE)
        fatal("PREPARE while a task is active");
    if (pipe2(ctl, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(status, O_CLOEXEC))
        fatal("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        fatal("fork: %s", strerror(errno));
    if (pid == 0) {
        close(ctl[1]);
        close(out[0]);
        close(err[0]);
        close(status[0]);
        stub_main(ctl[0], out[1], err[1], status[1]);
    }
    close(ctl[0]);
    close(out[1]);
    close(err[1]);
    close(status[1]);
    fcntl(ctl[1], F_SETFL, O_NONBLOCK);
    memset(&task.seen, 0, sizeof task.seen);
    memset(&task.kept, 0, sizeof task.kept);
    buf_clear(&task.forward);
    task.state = STAGING;
    task.pid = pid;
    task.ctl = ctl[1];
    task.out = out[0];
    task.err = err[0];
    task.status_fd = status[0];
    task.go_queued = task.started = task.exited = 0;
    task.live = task.input_eof = 0;
    buf_clear(&task.input);
    task.timeout_ms = task.sample_ms = 0;
    task.peak_processes = 0;
    task.next_sample = (struct timespec){0, 0};
    task.max_output = task.max_total = UINT64_MAX;
    task.flags = task.end_kind = 0;
    task.cpu_rlimit_ms = task.fsize_limit = 0;
    task.end_errno = 0;
    task.message[0] = 0;
    struct buf reply = {0};
    buf_u32(&reply, (uint32_t)pid);
    send_frame(A_STUB, reply.data, reply.len);
    free(reply.data);
}

/* The agent reads the settings it enforces itself; the stub reads the rest. */
static void note_spec(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i + 5 <= n) {
        uint8_t key = p[i];
        uint32_t len = get_u32(p + i + 1);
        if (len > n - i - 5)
            fatal("bad SPEC record");
        if (key == K_TIMEOUT_MS && len == 8)
            task.timeout_ms = get_u64(p + i + 5);
        else if (key == K_MAX_OUTPUT && len == 8)
            task.max_output = get_u64(p + i + 5);
        else if (key == K_SAMPLE_MS && len == 8)
            task.sample_ms = get_u64(p + i + 5);
        else if (key == K_RLIMIT && len == 17 && p[i + 5] == RLIMIT_CPU && get_u64(p + i + 6) < UINT64_MAX / 1000)
            task.cpu_rlimit_ms = get_u64(p + i + 6) * 1000;
        else if (key == K_RLIMIT && len == 17 && p[i + 5] == RLIMIT_FSIZE)
            task.fsize_limit = get_u64(p + i + 6);
        else if (key == K_MAX_TOTAL && len == 8)
            task.max_total = get_u64(p + i + 5);
        else if (key == K_LIVE_STDIN && len == 1)
            task.live = p[i + 5] != 0;
        i += 5 + len;
    }
}

static void forward(uint8_t type, const uint8_t *payload, size_t n)
{
    buf_u32(&task.forward, (uint32_t)(n + 1));
    buf_u8(&task.forward, type);
    buf_put(&task.forward, payload, n);
}

static void flush_forward(void)
{
    while (task.ctl >= 0 && task.forward.off < task.forward.len) {
        ssize_t w = write(task.ctl, task.forward.data + task.forward.off, task.forward.len - task.forward.off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            buf_compact(&task.forward); /* or a slow stub lets the buffer grow to the whole input */
            return;
        }
        if (w <= 0) { /* the stub died while staging: its exit tells why */
            close_fd(&task.ctl);
            buf_clear(&task.forward);
            return;
        }
        task.forward.off += (size_t)w;
    }
    buf_compact(&task.forward);
    if (task.go_queued && !task.started && task.forward.off == task.forward.len) {
        task.started = 1;
        if (!task.live) /* live: the stub makes the control pipe the command's stdin */
            close_fd(&task.ctl);
        clock_gettime(CLOCK_MONOTONIC, &task.start);
        if (task.state == STAGING)
            task.state = RUNNING;
    }
}

/* Live stdin: written once the command runs (the stub read up to GO and no further, then exec'd with the
 * control pipe as its stdin). Never blocks: what the task does not read yet waits here, so the host's
 * writes are never held up and the wall clock is always enforced. An ended input closes the pipe (EOF). */
static void flush_input(void)
{
    if (!task.live || task.ctl < 0 || !task.started || task.status_fd >= 0 || task.state != RUNNING)
        return;
    while (task.input.off < task.input.len) {
        ssize_t w = write(task.ctl, task.input.data + task.input.off, task.input.len - task.input.off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            buf_compact(&task.input);
            return;
        }
        if (w <= 0) { /* it closed its stdin: the rest is dropped, as a pipe would */
            close_fd(&task.ctl);
            buf_clear(&task.input);
            return;
        }
        task.input.off += (size_t)w;
    }
    buf_clear(&task.input);
    if (task.input_eof)
        close_fd(&task.ctl);
}

static void live_input(const uint8_t *payload, size_t n)
{
    if (n == 0)
        task.input_eof = 1;
    else if (task.ctl >= 0 && !task.input_eof)
        buf_put(&task.input, payload, n);
    flush_input();
}

static void report_exit(void)
{
    struct buf b = {0};
    if (!task.started)
        clock_gettime(CLOCK_MONOTONIC, &task.start), task.end = task.start;
    if (task.end_kind == END_RAN && !task.go_queued)
        task.end_kind = END_NEVER;
    buf_u32(&b, (uint32_t)task.wait_status);
    buf_u8(&b, task.end_kind);
    buf_u32(&b, (uint32_t)task.end_errno);
    buf_u64(&b, ns_between(&task.start, &task.end));
    buf_u64(&b, task.seen[0]);
    buf_u64(&b, task.seen[1]);
    buf_u8(&b, task.flags);
    buf_u32(&b, task.peak_processes);
    buf_put(&b, task.message, strlen(task.message));
    send_frame(A_EXIT, b.data, b.len);
    free(b.data);
    buf_release(&task.forward);
    buf_release(&task.input);
    task.live = 0;
    task.state = IDLE;
    task.pid = 0;
}

static void reap(void)
{
    int status;
    pid_t pid;
    struct rusage usage;
    while ((pid = wait4(-1, &status, WNOHANG | __WALL, &usage)) > 0) {
        if (pid == task.pid && !task.exited) {
            task.exited = 1;
            task.wait_status = status;
            /* A SIGXCPU (or a shell's 152) is the CPU limit only if the CPU time was really spent: its
             * own kernel's count, which under gVisor is the clock RLIMIT_CPU was enforced by (within a tick). */
            uint64_t cpu_ms = (uint64_t)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000 +
                              (uint64_t)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000;
            if (task.cpu_rlimit_ms && cpu_ms + 100 >= task.cpu_rlimit_ms)
                task.flags |= F_CPU_RLIMIT;
            /* A shell's 153 passes on a child's SIGXFSZ only if something reached RLIMIT_FSIZE. */
            if (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGXFSZ &&
                space_used_up(wipe_dirs, wipe_count, task.fsize_limit))
                task.flags |= F_FSIZE_FULL;
            clock_gettime(CLOCK_MONOTONIC, &task.end);
            kill_all(); /* what the command left running dies with it, as with a fresh container */
        }
    }
}

/* After the command exited: nothing may be left when EXIT is reported. */
static void finish_if_done(void)
{
    if (task.state != ENDING || !task.exited || task.out >= 0 || task.err >= 0 || task.status_fd >= 0)
        return;
    for (int round = 0; round < 5000; round++) {
        reap();
        if (kill(-1, SIGKILL) < 0 && errno == ESRCH && waitpid(-1, NULL, WNOHANG | __WALL) < 0)
            break;
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
        if (round == 4999)
            fatal("the task's processes could not be killed");
    }
    close_fd(&task.ctl);
    /* What the run left in IPC goes with its processes: the next step must not find it. The task's
     * objects are removed as their owner (gVisor: the agent is root, without CAP_IPC_OWNER). */
    char left[sizeof task.message];
    act_as_task(1);
    int ipc_left = clear_run_ipc(wipe_dirs, wipe_count, left, sizeof left) < 0;
    act_as_task(0);
    if (ipc_left) {
        task.flags |= F_IPC_LEFT;
        if (!task.message[0])
            memcpy(task.message, left, sizeof left);
    }
    report_exit();
}

static uint64_t room(uint64_t cap, uint64_t used) { return used < cap ? cap - used : 0; }

/* Relay what the task wrote, up to its stream's cap and to what is left of the task's
 * output budget (every stream of every step together); past either, kill the task. */
static void pump_output(int stream)
{
    int *fd = stream == 1 ? &task.out : &task.err;
    static uint8_t chunk[1 + 65536];
    ssize_t n = read(*fd, chunk + 1, sizeof chunk - 1);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        close_fd(fd);
        return;
    }
    int index = stream - 1;
    uint64_t stream_room = room(task.max_output, task.seen[index]);
    uint64_t total_room = room(task.max_total, task.kept[0] + task.kept[1]);
    uint64_t keep = (uint64_t)n;
    if (keep > stream_room)
        keep = stream_room;
    if (keep > total_room)
        keep = total_room;
    task.seen[index] += (uint64_t)n;
    if (keep) {
        task.kept[index] += keep;
        chunk[0] = (uint8_t)stream;
        send_frame(A_OUT, chunk, (size_t)keep + 1);
    }
    uint8_t over = 0;
    if ((uint64_t)n > stream_room)
        over |= stream == 1 ? F_STDOUT_OVER : F_STDERR_OVER;
    if ((uint64_t)n > total_room)
        over |= F_TOTAL_OVER;
    if (over & ~task.flags) {
        task.flags |= over;
        kill_all();
    }
}

static void read_status(void)
{
    uint8_t report[1 + 4 + sizeof task.message];
    ssize_t n = read(task.status_fd, report, sizeof report - 1);
    if (n < 0 && errno == EINTR)
        return;
    if (n >= 5) { /* the stub could not stage or exec: kind, errno, message */
        task.end_kind = report[0];
        task.end_errno = (int32_t)get_u32(report + 1);
        size_t len = (size_t)n - 5;
        memcpy(task.message, report + 5, len);
        task.message[len] = 0;
    }
    close_fd(&task.status_fd); /* EOF: execve succeeded and closed it */
    flush_input();
}

/* Host messages ------------------------------------------------------------ */

static void handle(uint8_t type, const uint8_t *payload, size_t n)
{
    switch (type) {
    case H_PREPARE:
        prepare();
        break;
    case H_SPEC:
    case H_FILE:
    case H_DATA:
    case H_STDIN:
    case H_GO:
        if (type == H_STDIN && task.live && task.go_queued) { /* live stdin: the task runs, or is about to */
            if (task.state == STAGING || task.state == RUNNING)
                live_input(payload, n); /* after the end, late input is dropped */
            break;
        }
        /* Staging frames for a stub that already died (or was killed) are dropped. */
        if (task.state != STAGING || task.go_queued)
            break;
        if (type == H_SPEC)
            note_spec(payload, n);
        forward(type, payload, n);
        if (type == H_GO)
            task.go_queued = 1;
        flush_forward();
        break;
    case H_KILL:
        if (task.state != IDLE) {
            task.flags |= F_KILLED;
            kill_all();
        }
        break;
    case H_LIST:
    case H_READ:
    case H_RESET:
        if (task.state != IDLE)
            fatal("message %u while a task is active", type);
        if (type == H_LIST || type == H_READ) {
            act_as_task(1); /* the task's files, with the task's rights (gVisor: the agent is root) */
            if (type == H_LIST)
                list_tree(wipe_dirs[0], payload, n);
            else
                read_file(wipe_dirs[0], payload, n);
            act_as_task(0);
        } else {
            char msg[512] = "";
            uint8_t clean = reset_sandbox(wipe_dirs, wipe_count, msg, sizeof msg) == 0;
            struct buf b = {0};
            buf_u8(&b, clean);
            buf_put(&b, msg, strlen(msg));
            send_frame(A_RESET, b.data, b.len);
            free(b.data);
        }
        break;
    case H_QUIT:
        _exit(0);
    default:
        fatal("unknown message type %u", type);
    }
}

/* With -s PATH the channel is a unix socket the host listens on (and closes once we are in). */
static void connect_channel(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (fd < 0 || strlen(path) >= sizeof address.sun_path)
        _exit(2);
    strcpy(address.sun_path, path);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0)
        _exit(2); /* nobody listens: the host gave up on this container */
    channel_in = channel_out = fd;
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "-s")) {
        connect_channel(argv[2]);
        argc -= 2;
        argv += 2;
    }
    if (argc > 2 && !strcmp(argv[1], "-u")) {
        if (set_task_identity(argv[2]) < 0)
            fatal("bad -u %s: want UID:GID, neither 0", argv[2]);
        argc -= 2;
        argv += 2;
    }
    if (argc < 2)
        fatal("usage: agent [-s SOCKET] [-u UID:GID] WORKDIR [WRITABLE-DIR ...]");
    wipe_dirs = argv + 1;
    wipe_count = argc - 1;
    prctl(PR_SET_DUMPABLE, 0); /* no ptrace, no /proc/1/{fd,mem,environ} for the task */
    signal(SIGPIPE, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0)
        fatal("signalfd: %s", strerror(errno));
    task.ctl = task.out = task.err = task.status_fd = -1;

    struct buf reply = {0};
    buf_u32(&reply, PROTOCOL_VERSION);
    buf_u32(&reply, (uint32_t)getpid());
    send_frame(A_READY, reply.data, reply.len);

    /* Large buffers are mmapped, so freeing one returns it to the kernel at once (glibc would
     * otherwise raise its threshold after the first free and keep the next in the heap). */
    mallopt(M_MMAP_THRESHOLD, BUF_KEEP);
    mallopt(M_TRIM_THRESHOLD, BUF_KEEP);
    struct buf in = {0};
    static uint8_t chunk[65536];
    for (;;) {
        struct pollfd fds[6];
        int count = 0, at_in = -1, at_sig, at_out = -1, at_err = -1, at_status = -1, at_ctl = -1;
        /* Back-pressure: while the stub is behind, stop reading what would be forwarded. */
        if (task.forward.len - task.forward.off < (2u << 20))
            fds[at_in = count++] = (struct pollfd){channel_in, POLLIN, 0};
        fds[at_sig = count++] = (struct pollfd){sigfd, POLLIN, 0};
        if (task.out >= 0)
            fds[at_out = count++] = (struct pollfd){task.out, POLLIN, 0};
        if (task.err >= 0)
            fds[at_err = count++] = (struct pollfd){task.err, POLLIN, 0};
        if (task.status_fd >= 0)
            fds[at_status = count++] = (struct pollfd){task.status_fd, POLLIN, 0};
        if (task.ctl >= 0 && task.forward.off < task.forward.len)
            fds[at_ctl = count++] = (struct pollfd){task.ctl, POLLOUT, 0};
        else if (task.ctl >= 0 && task.live && task.state == RUNNING && task.status_fd < 0 &&
                 task.input.off < task.input.len)
            fds[at_ctl = count++] = (struct pollfd){task.ctl, POLLOUT, 0};

        int wait_ms = -1;
        if (task.state == RUNNING) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            uint64_t spent = ns_between(&task.start, &now) / 1000000;
            if (task.timeout_ms && spent >= task.timeout_ms) {
                task.flags |= F_TIMEOUT;
                kill_all();
            } else if (task.timeout_ms) {
                wait_ms = (int)(task.timeout_ms - spent) + 1;
            }
            if (task.sample_ms && task.state == RUNNING) {
                /* Where the host cannot count the task's processes (gVisor), count them here. */
                if (ns_between(&task.next_sample, &now) > 0) {
                    int count = count_processes();
                    if (count > 0 && (uint32_t)count > task.peak_processes) {
                        /* Told at once: a task that takes the sandbox down leaves no EXIT to carry it. */
                        task.peak_processes = (uint32_t)count;
                        uint8_t peak[4] = {count >> 24, count >> 16, count >> 8, count};
                        send_frame(A_PEAK, peak, sizeof peak);
                    }
                    task.next_sample = now;
                    task.next_sample.tv_nsec += (long)task.sample_ms * 1000000;
                    while (task.next_sample.tv_nsec >= 1000000000) {
                        task.next_sample.tv_sec++;
                        task.next_sample.tv_nsec -= 1000000000;
                    }
                }
                if (wait_ms < 0 || wait_ms > (int)task.sample_ms)
                    wait_ms = (int)task.sample_ms;
            }
        }
        if (task.state == ENDING) {
            kill(-1, SIGKILL); /* keep killing until every process is gone */
            wait_ms = 5;
        }
        if (poll(fds, (nfds_t)count, wait_ms) < 0 && errno != EINTR)
            fatal("poll: %s", strerror(errno));

        if (at_ctl >= 0 && fds[at_ctl].revents) {
            flush_forward();
            flush_input();
        }
        if (at_out >= 0 && fds[at_out].revents)
            pump_output(1);
        if (at_err >= 0 && fds[at_err].revents)
            pump_output(2);
        if (at_status >= 0 && fds[at_status].revents)
            read_status();
        if (fds[at_sig].revents) {
            struct signalfd_siginfo info;
            while (read(sigfd, &info, sizeof info) > 0) {
            }
            reap();
        }
        if (at_in >= 0 && fds[at_in].revents) {
            ssize_t n = read(channel_in, chunk, sizeof chunk);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
                _exit(0); /* the channel closed: the owner is gone, and so is this container */
            if (n > 0)
                buf_put(&in, chunk, (size_t)n);
            uint8_t type;
            const uint8_t *payload;
            size_t len;
            while (frame_take(&in, &type, &payload, &len))
                handle(type, payload, len);
            buf_compact(&in);
            if (in.len == 0)
                buf_release(&in); /* a large frame is not kept once handled */
        }
        finish_if_done();
    }
}
