"""faber-ray's own seccomp profile: what Docker's default allows a container with no capabilities, minus io_uring.

Docker 20.10's default profile still allows ``io_uring_setup``, a large and
often-exploited kernel surface; newer Docker releases deny it. faber-ray
therefore ships a profile of its own and applies it to every sandbox, so
the filter does not depend on the engine's version. Sandboxes never hold a
capability, so the rules Docker grants only with one (mount, setns, bpf,
reboot, ...) are left out, and ``clone`` may not create namespaces.
Anything not listed fails with ``EPERM``; ``clone3`` fails with ``ENOSYS``
so that libc falls back to ``clone``, whose flags can be checked.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

__all__ = ["DENIED", "profile_json", "seccomp_profile"]

#: Calls faber-ray denies although Docker 20.10's default allows them.
DENIED = ("io_uring_setup", "io_uring_enter", "io_uring_register")

_GROUPS: dict[str, str] = {
    "files": """access chdir chmod ioctl chown chown32 close close_range copy_file_range creat dup dup2 dup3
        faccessat faccessat2 fadvise64 fadvise64_64 fallocate fchdir fchmod fchmodat fchown fchown32 fchownat
        fcntl fcntl64 fdatasync flock fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64
        futimesat getcwd getdents getdents64 lchown lchown32 link linkat _llseek lseek lstat lstat64 mkdir mkdirat
        mknod mknodat name_to_handle_at newfstatat open openat openat2 pread64 preadv preadv2 pwrite64 pwritev
        pwritev2 read readahead readlink readlinkat readv rename renameat renameat2 rmdir sendfile sendfile64
        splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs tee truncate
        truncate64 umask unlink unlinkat utime utimensat utimensat_time64 utimes vmsplice write writev""",
    "xattrs": """fgetxattr flistxattr fremovexattr fsetxattr getxattr lgetxattr listxattr llistxattr
        lremovexattr lsetxattr removexattr setxattr""",
    "events": """epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
        epoll_wait_old eventfd eventfd2 fanotify_mark inotify_add_watch inotify_init inotify_init1
        inotify_rm_watch poll ppoll ppoll_time64 pselect6 pselect6_time64 select _newselect signalfd signalfd4
        timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64""",
    "async_io": "io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit",
    "memory": """brk madvise membarrier memfd_create memfd_secret mincore mlock mlock2 mlockall mmap mmap2
        mprotect mremap msync munlock munlockall munmap pkey_alloc pkey_free pkey_mprotect remap_file_pages""",
    "processes": """execve execveat exit exit_group fork getpgid getpgrp getpid getppid getpriority getrusage
        getsid gettid kill pidfd_open pidfd_send_signal prctl prlimit64 getrlimit setrlimit ugetrlimit
        process_mrelease restart_syscall seccomp setpgid setpriority setsid set_robust_list get_robust_list
        set_tid_address tgkill tkill vfork wait4 waitid waitpid ioprio_get ioprio_set
        sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
        sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
        sched_setparam sched_setscheduler sched_yield get_thread_area set_thread_area rseq""",
    "identity": """capget capset getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
        getresgid getresgid32 getresuid getresuid32 getuid getuid32 setfsgid setfsgid32 setfsuid setfsuid32
        setgid setgid32 setgroups setgroups32 setregid setregid32 setresgid setresgid32 setresuid setresuid32
        setreuid setreuid32 setuid setuid32""",
    "signals": """alarm pause rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
        rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sigaltstack sigprocmask sigreturn""",
    "time": """adjtimex clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
        clock_gettime64 clock_nanosleep clock_nanosleep_time64 getitimer gettimeofday nanosleep setitimer time
        timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
        times""",
    "sockets": """accept accept4 bind connect getpeername getsockname getsockopt listen recv recvfrom recvmmsg
        recvmmsg_time64 recvmsg send sendmmsg sendmsg sendto setsockopt shutdown socketcall socketpair""",
    "ipc": """ipc mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
        mq_timedsend_time64 mq_unlink msgctl msgget msgrcv msgsnd semctl semget semop semtimedop
        semtimedop_time64 shmat shmctl shmdt shmget pipe pipe2""",
    "system": """futex futex_time64 futex_waitv getcpu getrandom landlock_add_rule landlock_create_ruleset
        landlock_restrict_self sysinfo uname""",
    # Debuggers inside the sandbox; the kernel's ptrace checks still apply (and the agent is not dumpable).
    "tracing": "ptrace process_vm_readv process_vm_writev",
}

_ARCH_ONLY = {
    "arch_prctl": ["amd64", "x32"],
    "modify_ldt": ["amd64", "x32", "x86"],
    "arm_fadvise64_64": ["arm", "arm64"],
    "arm_sync_file_range": ["arm", "arm64"],
    "sync_file_range2": ["arm", "arm64"],
    "breakpoint": ["arm", "arm64"],
    "cacheflush": ["arm", "arm64"],
    "set_tls": ["arm", "arm64"],
}

#: personality(2) values Docker allows: Linux, 32-bit Linux, UNAME26 with either, and the query (0xffffffff).
_PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
#: CLONE_NEWNS | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWCGROUP: refused without CAP_SYS_ADMIN anyway.
_CLONE_NAMESPACE_FLAGS = 0x7E020000
_AF_VSOCK = 40
_ENOSYS = 38


def _names(group: str) -> list[str]:
    return _GROUPS[group].split()


@cache
def seccomp_profile() -> dict[str, Any]:
    """The profile as Docker's seccomp JSON schema expects it."""
    allowed = sorted({name for group in _GROUPS for name in _names(group)} - set(DENIED))
    rules: list[dict[str, Any]] = [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
    rules.append({
        "names": ["socket"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": _AF_VSOCK, "op": "SCMP_CMP_NE"}],
    })
    for value in _PERSONALITIES:
        rules.append({
            "names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}],
        })
    for name, arches in _ARCH_ONLY.items():
        rules.append({"names": [name], "action": "SCMP_ACT_ALLOW", "includes": {"arches": arches}})
    rules.append({
        "names": ["clone"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": _CLONE_NAMESPACE_FLAGS, "op": "SCMP_CMP_MASKED_EQ"}],
        "excludes": {"arches": ["s390", "s390x"]},
    })
    rules.append({
        "names": ["clone"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 1, "value": _CLONE_NAMESPACE_FLAGS, "op": "SCMP_CMP_MASKED_EQ"}],
        "includes": {"arches": ["s390", "s390x"]},
    })
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": _ENOSYS})
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": rules,
    }


@cache
def profile_json() -> str:
    """The profile as the text ``security_opt=["seccomp=..."]`` carries to the engine."""
    return json.dumps(seccomp_profile(), separators=(",", ":"))
