using Wasmtime;

namespace Airlock.Backends.Wasm.Engine;

/// <summary>
/// WASI preview 1 as Wasmtime implements it, with two changes. The socket calls are denied outright (a module gets no
/// socket descriptors anyway; this keeps it so if a later Wasmtime hands some out). <c>poll_oneoff</c> is replaced by
/// one that waits on the exec's kill signal: Wasmtime's own sleeps block in the host, where neither the epoch deadline
/// nor fuel can reach, so <c>sleep(3600)</c> would outlive its timeout.
/// </summary>
internal static class WasiLinker
{
    private const string Module = "wasi_snapshot_preview1";
    private const int ErrnoSuccess = 0, ErrnoFault = 21, ErrnoIntr = 27, ErrnoInval = 28, ErrnoNotSup = 58;
    private const int SubscriptionSize = 48, EventSize = 32;
    private const byte EventClock = 0, EventFdRead = 1, EventFdWrite = 2;

    public static Linker Create(Wasmtime.Engine engine)
    {
        var linker = new Linker(engine);
        linker.DefineWasi();
        linker.AllowShadowing = true;
        linker.DefineFunction(Module, "sock_accept", (int fd, int flags, int fdOut) => ErrnoNotSup);
        linker.DefineFunction(Module, "sock_recv", (int fd, int iovs, int iovsLen, int flags, int sizeOut, int flagsOut) => ErrnoNotSup);
        linker.DefineFunction(Module, "sock_send", (int fd, int iovs, int iovsLen, int flags, int sizeOut) => ErrnoNotSup);
        linker.DefineFunction(Module, "sock_shutdown", (int fd, int how) => ErrnoNotSup);
        linker.DefineFunction(Module, "poll_oneoff", (Caller caller, int input, int output, int count, int eventsOut) =>
            PollOneoff(caller, input, output, count, eventsOut));
        linker.AllowShadowing = false;
        return linker;
    }

    /// <summary>Clock subscriptions sleep until the earliest one is due or the exec is killed; descriptor
    /// subscriptions (only files and the captured stdio exist, which never block) are reported ready at once.
    /// Absolute monotonic deadlines are refused: Wasmtime's monotonic clock has a base this code cannot see.</summary>
    private static int PollOneoff(Caller caller, int input, int output, int count, int eventsOut)
    {
        var memory = caller.GetMemory("memory");
        if (memory is null || caller.GetData() is not ExecContext exec)
        {
            return ErrnoFault;
        }
        if (count <= 0)
        {
            return ErrnoInval;
        }
        var length = memory.GetLength();
        if (input < 0 || output < 0 || eventsOut < 0 || input + (long)count * SubscriptionSize > length
            || output + (long)count * EventSize > length || eventsOut + 4L > length)
        {
            return ErrnoFault;
        }
        var subs = new (long UserData, byte Tag, long DueNs)[count];
        for (var i = 0; i < count; i++)
        {
            long sub = input + (long)i * SubscriptionSize;
            var tag = memory.ReadByte(sub + 8);
            long due = 0;
            if (tag == EventClock)
            {
                var clock = memory.ReadInt32(sub + 16);
                var timeout = memory.ReadInt64(sub + 24);
                var absolute = (memory.ReadInt16(sub + 40) & 1) != 0;
                if (absolute && clock != 0)
                {
                    return ErrnoNotSup;
                }
                due = absolute ? timeout - RealtimeNs() : timeout;
            }
            subs[i] = (memory.ReadInt64(sub), tag, Math.Max(0, due));
        }
        var anyFd = subs.Any(s => s.Tag != EventClock);
        long waitedNs = 0;
        if (!anyFd)
        {
            waitedNs = subs.Min(s => s.DueNs);
            if (waitedNs > 0 && exec.WaitForKill(TimeSpan.FromTicks(Math.Min(waitedNs / 100, TimeSpan.FromDays(365).Ticks))))
            {
                return ErrnoIntr;
            }
        }
        var events = 0;
        foreach (var (userData, tag, dueNs) in subs)
        {
            if (anyFd ? tag == EventClock : dueNs > waitedNs)
            {
                continue;
            }
            long ev = output + (long)events * EventSize;
            memory.WriteInt64(ev, userData);
            memory.WriteInt16(ev + 8, ErrnoSuccess);
            memory.WriteByte(ev + 10, tag is EventFdRead or EventFdWrite ? tag : EventClock);
            memory.WriteInt64(ev + 16, 0);
            memory.WriteInt16(ev + 24, 0);
            events++;
        }
        memory.WriteInt32(eventsOut, events);
        return ErrnoSuccess;
    }

    private static long RealtimeNs() => (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
}
