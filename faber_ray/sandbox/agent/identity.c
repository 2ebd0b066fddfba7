/*
 * Who the task is, when it is not who the agent is (gVisor).
 *
 * gVisor does not honour PR_SET_DUMPABLE for /proc/1/fd: a process of the
 * agent's own uid could open the agent's descriptors, and under gVisor those
 * are its channel to the host. So there (`-u UID:GID`) the agent runs as root
 * of gVisor's own kernel, with only CAP_SETUID, CAP_SETGID and CAP_KILL, and
 * every stub becomes the task's user, for good, before anything of the task
 * runs. /proc/1 then belongs to another user, who is also out of the task's
 * reach for signals and ptrace. Without -u (runc) the agent already is the
 * task's user and nothing here does anything.
 */
#include "agent.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long task_uid = -1, task_gid = -1;

int set_task_identity(const char *spec)
{
    char *end;
    long uid = strtol(spec, &end, 10);
    if (end == spec || *end != ':' || uid <= 0)
        return -1;
    const char *rest = end + 1;
    long gid = strtol(rest, &end, 10);
    if (end == rest || *end || gid <= 0)
        return -1;
    task_uid = uid;
    task_gid = gid;
    return 0;
}

int become_task(void)
{
    if (task_uid < 0)
        return 0;
    uid_t uid = (uid_t)task_uid, ruid, euid, suid;
    gid_t gid = (gid_t)task_gid;
    if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
        return -1;
    /* Every id changed, and there is no way back (that would need a capability this process lost). */
    if (getresuid(&ruid, &euid, &suid) < 0 || ruid != uid || euid != uid || suid != uid || setresuid(0, 0, 0) == 0) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

void act_as_task(int on)
{
    if (task_uid < 0)
        return;
    /* Effective ids only (the saved uid stays root): the agent reads the workspace with the task's
     * rights, no more, and only ever while no process of the task is left to look at it. */
    int failed = on ? setresgid(-1, (gid_t)task_gid, -1) < 0 || setresuid(-1, (uid_t)task_uid, -1) < 0
                    : setresuid(-1, 0, -1) < 0 || setresgid(-1, 0, -1) < 0;
    if (failed)
        fatal("cannot %s the task's user: %s", on ? "act as" : "stop acting as", strerror(errno));
}
