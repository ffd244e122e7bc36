using System.Text.Json.Nodes;

namespace Airlock.Backends.Oci.Bundle;

/// <summary>
/// The sandbox's seccomp filter: deny by default (EPERM), allow the syscalls ordinary programs use, in the spirit of
/// Docker's default profile but stricter. Never allowed: mount and pivot_root, ptrace and process_vm_*, bpf,
/// keyctl, userfaultfd, perf_event_open, kexec, io_uring, module loading, unshare/setns, and clone with any
/// namespace flag. clone3 answers ENOSYS because its flags sit behind a pointer that seccomp cannot inspect;
/// libc then falls back to clone, whose flags are checked.
/// </summary>
public static class SeccompProfile
{
    private const uint EPERM = 1;
    private const uint ENOSYS = 38;

    /// <summary>CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME(0x80): any of them makes clone fail.</summary>
    public const ulong NamespaceCloneFlags = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80;

    public static readonly string[] Allowed =
    [
        "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "capget", "capset", "chdir", "chmod",
        "chown", "clock_getres", "clock_gettime", "clock_nanosleep", "close", "close_range", "connect",
        "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
        "epoll_pwait", "epoll_pwait2", "epoll_wait", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
        "faccessat", "faccessat2", "fadvise64", "fallocate", "fchdir", "fchmod", "fchmodat", "fchown", "fchownat",
        "fcntl", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
        "fstatfs", "fsync", "ftruncate", "futex", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
        "geteuid", "getgid", "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid",
        "getpriority", "getrandom", "getresgid", "getresuid", "getrlimit", "get_robust_list", "getrusage", "getsid",
        "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch",
        "inotify_init", "inotify_init1", "inotify_rm_watch", "ioctl", "kill", "lchown", "lgetxattr", "link",
        "linkat", "listen", "listxattr", "llistxattr", "lremovexattr", "lseek", "lsetxattr", "lstat", "madvise",
        "membarrier", "memfd_create", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2",
        "mlockall", "mmap", "mprotect", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
        "munlockall", "munmap", "nanosleep", "newfstatat", "open", "openat", "openat2", "pause", "pidfd_open",
        "pidfd_send_signal", "pipe", "pipe2", "poll", "ppoll", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
        "pselect6", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
        "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2",
        "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
        "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_getaffinity",
        "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
        "sched_rr_get_interval", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
        "sched_yield", "select", "semctl", "semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg",
        "sendto", "setfsgid", "setfsuid", "setgid", "setgroups", "setitimer", "setpgid", "setpriority", "setregid",
        "setresgid", "setresuid", "setreuid", "setrlimit", "set_robust_list", "setsid", "setsockopt",
        "set_tid_address", "setuid", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
        "signalfd", "signalfd4", "socketpair", "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync",
        "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
        "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create", "timerfd_gettime",
        "timerfd_settime", "times", "tkill", "truncate", "umask", "uname", "unlink", "unlinkat", "utime",
        "utimensat", "utimes", "vfork", "vmsplice", "wait4", "waitid", "write", "writev",
    ];

    /// <summary>Denied explicitly even though the default already denies them, so the intent is readable in the
    /// generated profile and a later edit of <see cref="Allowed"/> cannot silently let them in.</summary>
    public static readonly string[] AlwaysDenied =
    [
        "mount", "umount2", "pivot_root", "chroot", "ptrace", "process_vm_readv", "process_vm_writev", "bpf",
        "keyctl", "add_key", "request_key", "userfaultfd", "perf_event_open", "kexec_load", "kexec_file_load",
        "io_uring_setup", "io_uring_enter", "io_uring_register", "unshare", "setns", "init_module",
        "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at", "reboot", "swapon", "swapoff",
        "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "quotactl", "lookup_dcookie",
        "fanotify_init", "syslog", "vhangup", "kcmp", "pidfd_getfd", "move_mount", "open_tree", "fsopen", "fsmount",
        "fsconfig", "fspick", "mount_setattr", "iopl", "ioperm",
    ];

    /// <param name="errnoRetHonoured">False for runsc (gVisor 2022): it answers EPERM for every errno rule, and libc
    /// falls back from clone3 to clone only on ENOSYS. gVisor does not implement clone3 and answers ENOSYS itself,
    /// so there clone3 is passed through to the sentry, and clone's flags are still checked.</param>
    public static JsonObject Build(bool errnoRetHonoured = true)
    {
        var syscalls = new JsonArray(
        [
            Rule(Allowed, "SCMP_ACT_ALLOW"),
            // clone: allowed only without namespace flags (flags are argument 0 on x86_64).
            new JsonObject
            {
                ["names"] = new JsonArray("clone"),
                ["action"] = "SCMP_ACT_ALLOW",
                ["args"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0, ["value"] = NamespaceCloneFlags, ["valueTwo"] = 0, ["op"] = "SCMP_CMP_MASKED_EQ",
                }),
            },
            errnoRetHonoured
                ? new JsonObject { ["names"] = new JsonArray("clone3"), ["action"] = "SCMP_ACT_ERRNO", ["errnoRet"] = ENOSYS }
                : new JsonObject { ["names"] = new JsonArray("clone3"), ["action"] = "SCMP_ACT_ALLOW" },
            // socket: only Unix and IP sockets (AF_UNIX=1, AF_INET=2, AF_INET6=10); no netlink, packet, vsock, ...
            SocketFamily(1), SocketFamily(2), SocketFamily(10),
            // personality: only the harmless values Docker allows (Linux, and reading the current persona).
            Personality(0x0), Personality(0x0008), Personality(0x20000), Personality(0x20008), Personality(0xffffffff),
            Rule(AlwaysDenied, "SCMP_ACT_ERRNO", EPERM),
        ]);
        return new JsonObject
        {
            ["defaultAction"] = "SCMP_ACT_ERRNO",
            ["defaultErrnoRet"] = EPERM,
            ["architectures"] = new JsonArray("SCMP_ARCH_X86_64"),
            ["syscalls"] = syscalls,
        };
    }

    private static JsonObject Rule(IEnumerable<string> names, string action, uint? errno = null)
    {
        var rule = new JsonObject
        {
            ["names"] = new JsonArray(names.Select(n => (JsonNode)JsonValue.Create(n)).ToArray()),
            ["action"] = action,
        };
        if (errno is { } e)
        {
            rule["errnoRet"] = e;
        }
        return rule;
    }

    private static JsonObject SocketFamily(int family) => new()
    {
        ["names"] = new JsonArray("socket"),
        ["action"] = "SCMP_ACT_ALLOW",
        ["args"] = new JsonArray(new JsonObject { ["index"] = 0, ["value"] = family, ["op"] = "SCMP_CMP_EQ" }),
    };

    private static JsonObject Personality(uint value) => new()
    {
        ["names"] = new JsonArray("personality"),
        ["action"] = "SCMP_ACT_ALLOW",
        ["args"] = new JsonArray(new JsonObject { ["index"] = 0, ["value"] = value, ["op"] = "SCMP_CMP_EQ" }),
    };
}
