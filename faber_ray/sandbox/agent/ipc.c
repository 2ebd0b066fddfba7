/*
 * What a run leaves in IPC goes with it, as its processes do: SysV shared
 * memory, message queues and semaphores, POSIX shared memory (/dev/shm) and
 * POSIX message queues (/dev/mqueue). A task's steps share one container, so
 * without this a step could attach the segment an earlier step filled and
 * write all of it, charged to nobody; the reset between tasks uses the same
 * removal.
 *
 * Linux lists every SysV object in /proc/sysvipc, whatever its mode. gVisor
 * does not expose that table. There, ids are handed out in increasing order
 * (and not reused until they wrap), so when *_INFO says objects of a kind
 * exist, the agent makes one private object of that kind to learn the
 * highest id in use, removes every id up to it, and checks with IPC_STAT
 * that none is left; an object the task made unreadable
 * answers EACCES, not EINVAL, so it still counts. gVisor has no /dev/mqueue:
 * its POSIX message queues cannot be listed, so they are not removed there
 * (they are bounded by RLIMIT_MSGQUEUE, and the sandbox is fresh per task).
 */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

/* Ids the gVisor fallback will scan at most, per kind (a task churning more is refused). */
#define SCAN_LIMIT 65536

enum kind { SHM, MSG, SEM };
static const char *const names[] = {"shm", "msg", "sem"};

static int remove_id(enum kind kind, int id)
{
    return kind == SHM ? shmctl(id, IPC_RMID, NULL) : kind == MSG ? msgctl(id, IPC_RMID, NULL) : semctl(id, 0, IPC_RMID);
}

/* 1 if the id names an object (readable or not), 0 if none. */
static int exists(enum kind kind, int id)
{
    union {
        struct shmid_ds shm;
        struct msqid_ds msg;
        struct semid_ds sem;
    } ds;
    int rc = kind == SHM ? shmctl(id, IPC_STAT, &ds.shm)
             : kind == MSG ? msgctl(id, IPC_STAT, &ds.msg)
                           : semctl(id, 0, IPC_STAT, &ds.sem);
    return rc == 0 || errno != EINVAL;
}

/* Remove every object listed in /proc/sysvipc/<kind>; how many were listed, or -1 if it cannot be read. */
static int remove_listed(enum kind kind)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/sysvipc/%s", names[kind]);
    FILE *file = fopen(path, "re");
    if (!file)
        return -1;
    char line[512];
    int found = 0;
    if (fgets(line, sizeof line, file)) { /* the header */
        while (fgets(line, sizeof line, file)) {
            long key;
            int id;
            if (sscanf(line, "%ld %d", &key, &id) != 2)
                continue;
            found++;
            remove_id(kind, id);
        }
    }
    fclose(file);
    return found;
}

/* Objects of a kind that exist, by *_INFO; gVisor's shm count may include removed segments, but 0 is 0. */
static int in_use(enum kind kind)
{
    union {
        struct shm_info shm;
        struct msginfo msg;
        struct seminfo sem;
    } info;
    if (kind == SHM)
        return shmctl(0, SHM_INFO, (struct shmid_ds *)&info.shm) < 0 ? -1 : info.shm.used_ids;
    if (kind == MSG)
        return msgctl(0, MSG_INFO, (struct msqid_ds *)&info.msg) < 0 ? -1 : info.msg.msgpool;
    return semctl(0, 0, SEM_INFO, &info.sem) < 0 ? -1 : info.sem.semusz;
}

/* Where /proc/sysvipc is missing (gVisor): remove every id up to the highest in use, then check.
 * Nothing in use (the usual case) costs one call; the probe is made only when there is something. */
static int remove_scanned(enum kind kind, char *msg, size_t msglen)
{
    if (in_use(kind) == 0)
        return 0;
    int probe = kind == SHM ? shmget(IPC_PRIVATE, 1, IPC_CREAT | 0600)
                : kind == MSG ? msgget(IPC_PRIVATE, IPC_CREAT | 0600)
                              : semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    int highest = probe >= 0 ? probe : SCAN_LIMIT; /* full: every id may be in use */
    if (highest > SCAN_LIMIT) {
        remove_id(kind, probe);
        snprintf(msg, msglen, "SysV %s ids reach %d, past the %d the agent scans", names[kind], highest, SCAN_LIMIT);
        return -1;
    }
    for (int id = 0; id <= highest; id++)
        remove_id(kind, id);
    for (int id = 0; id <= highest; id++) {
        if (exists(kind, id)) {
            snprintf(msg, msglen, "SysV IPC (%s id %d) is left after removal", names[kind], id);
            return -1;
        }
    }
    return 0;
}

int clear_sysv(char *msg, size_t msglen)
{
    for (enum kind kind = SHM; kind <= SEM; kind++) {
        int found = remove_listed(kind);
        if (found < 0) {
            if (remove_scanned(kind, msg, msglen) < 0)
                return -1;
        } else if (found > 0 && remove_listed(kind) > 0) {
            snprintf(msg, msglen, "SysV IPC (%s) is left after removal", names[kind]);
            return -1;
        }
    }
    return 0;
}

int clear_run_ipc(char *const *dirs, int ndirs, char *msg, size_t msglen)
{
    for (int i = 0; i < ndirs; i++)
        if ((!strcmp(dirs[i], "/dev/shm") || !strcmp(dirs[i], "/dev/mqueue")) && wipe_dir(dirs[i], msg, msglen) < 0)
            return -1;
    return clear_sysv(msg, msglen);
}
