/*
 * faber-ray sandbox agent: shared definitions.
 *
 * The agent is PID 1 of every sandbox container. It talks to the host over a
 * unix socket (runc) or its own stdin and stdout, the container's attach
 * stream (gVisor): a task can never reach them (they are PID 1's
 * descriptors; PID 1 is not dumpable under runc, and under gVisor, which does
 * not honour that for /proc/1/fd, it is another user: see identity.c). Every message is a frame:
 * a 4-byte big-endian length L, then L bytes: one type byte and a payload.
 *
 * The numbers below are mirrored in faber_ray/sandbox/protocol.py; a test
 * checks that both files agree.
 */
#ifndef FABER_AGENT_H
#define FABER_AGENT_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROTOCOL_VERSION 1
/* The largest frame either side sends: 1 MiB of data plus a small header. */
#define MAX_FRAME ((1u << 20) + 4096u)

/* host -> agent */
#define H_PREPARE 1 /* fork the stub of the next task or step */
#define H_SPEC 2    /* the task's argv, env, cwd, rlimits, timeout, output cap */
#define H_FILE 3    /* u32 mode, path: the next DATA frames are this file's content */
#define H_DATA 4    /* content of the current file */
#define H_STDIN 5   /* content of stdin; with K_LIVE_STDIN, sent while the task runs, and empty: end of input */
#define H_GO 6      /* staging is complete: exec the command */
#define H_KILL 7    /* kill every process of the task */
#define H_LIST 8    /* u32 max entries, u32 max depth: list the working directory */
#define H_READ 9    /* u64 max size, path: send one regular file */
#define H_RESET 10  /* wipe the writable mounts and IPC, and check the result */
#define H_QUIT 11   /* exit, which ends the container */

/* agent -> host */
#define A_READY 64   /* u32 protocol version, u32 own pid */
#define A_STUB 65    /* u32 stub pid: ready to be moved into the task's cgroup */
#define A_OUT 66     /* u8 stream (1 stdout, 2 stderr), data */
#define A_EXIT 67    /* the task ended and every one of its processes is gone */
#define A_ENTRIES 68 /* listing records: u8 kind, u64 size, u32 nlink, u16 length, path */
#define A_LISTED 69  /* u8 truncated */
#define A_FILE 70    /* u64 size: the next DATA frames are the requested file */
#define A_DATA 71
#define A_REFUSED 72 /* the requested file was refused: reason */
#define A_RESET 73   /* u8 clean, message */
#define A_FATAL 74   /* message: the agent gives up and exits */
#define A_PEAK 75    /* u32: the task's sampled process count reached a new peak (gVisor) */

/* H_SPEC records: u8 key, u32 length, value */
#define K_ARG 1
#define K_ENV 2
#define K_CWD 3
#define K_TIMEOUT_MS 4 /* u64; 0 means none */
#define K_MAX_OUTPUT 5 /* u64 bytes kept per stream */
#define K_RLIMIT 6     /* u8 resource, u64 soft, u64 hard */
#define K_SAMPLE_MS 7  /* u64: count the task's processes this often (where no cgroup can) */
#define K_MAX_TOTAL 8  /* u64 bytes kept over both streams: what is left of the task's output budget */
#define K_LIVE_STDIN 9 /* u8: stdin is a pipe the host feeds with STDIN frames as the task runs (interactive) */

/* A_EXIT payload: i32 wait status, u8 end, i32 errno, u64 wall ns,
 * u64 stdout bytes, u64 stderr bytes, u8 flags, u32 sampled peak processes, message */
#define END_RAN 0        /* the command ran; the wait status is its own */
#define END_EXEC 1       /* execve failed with errno */
#define END_STAGING 2    /* writing the task's files or stdin failed */
#define END_NEVER 3      /* killed before it was started */
#define F_STDOUT_OVER 1  /* stdout passed its cap */
#define F_STDERR_OVER 2
#define F_TIMEOUT 4      /* the agent killed it at its wall-clock limit */
#define F_KILLED 8       /* the host asked for the kill */
#define F_CPU_RLIMIT 16  /* the command's own CPU time (with its waited-for children) reached its RLIMIT_CPU */
#define F_FSIZE_FULL 32  /* it exited 153 with a writable mount holding RLIMIT_FSIZE bytes, or full */
#define F_TOTAL_OVER 64  /* both streams together passed K_MAX_TOTAL */
#define F_IPC_LEFT 128   /* IPC the run made could not all be removed after it (see the message) */

/* Listing kinds */
#define E_FILE 1
#define E_DIR 2
#define E_SYMLINK 3
#define E_FIFO 4
#define E_SOCKET 5
#define E_DEVICE 6
#define E_OTHER 7

/* One record of getdents64 (glibc does not declare it): reset.c and collect.c read directories with it. */
struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* A growable byte buffer. */
struct buf {
    uint8_t *data;
    size_t len, off, cap;
};

void buf_put(struct buf *b, const void *data, size_t n);
void buf_u8(struct buf *b, uint8_t v);
void buf_u16(struct buf *b, uint16_t v);
void buf_u32(struct buf *b, uint32_t v);
void buf_u64(struct buf *b, uint64_t v);
void buf_clear(struct buf *b);

uint32_t get_u32(const uint8_t *p);
uint64_t get_u64(const uint8_t *p);

/* Frames to the host (fd 1), written whole and in order. */
void send_frame(uint8_t type, const void *payload, size_t n);
void send_text(uint8_t type, const char *text);
void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Reading frames from a descriptor into a buffer: 1 when one is complete. */
int frame_take(struct buf *in, uint8_t *type, const uint8_t **payload, size_t *n);
int write_all(int fd, const void *data, size_t n);

/* stub.c: the child that stages a task's files and execs its command. */
void stub_main(int ctl, int out, int err, int status) __attribute__((noreturn));

/* reset.c: wipe and verify; 0 when clean, else a message in msg. */
int reset_sandbox(char *const *dirs, int ndirs, char *msg, size_t msglen);
int wipe_dir(const char *root, char *msg, size_t msglen);
int only_init_left(void);
int space_used_up(char *const *dirs, int ndirs, uint64_t fsize_limit);
int count_processes(void);

/* identity.c: the task's own user under gVisor (-u UID:GID); no-ops without it. */
int set_task_identity(const char *spec);
int become_task(void);
void act_as_task(int on);

/* ipc.c: remove what a run left in IPC; 0 when nothing is left, else a message in msg. */
int clear_sysv(char *msg, size_t msglen);
int clear_run_ipc(char *const *dirs, int ndirs, char *msg, size_t msglen);

/* collect.c */
void list_tree(const char *root, const uint8_t *payload, size_t n);
void read_file(const char *root, const uint8_t *payload, size_t n);

#endif
