# Pretend an LLM wrote this. It does its job, then tries what a malicious or confused agent might.
import os, socket, ctypes

print("computed:", sum(i * i for i in range(1000)))

def attempt(name, fn):
    try:
        result = fn()
        print(f"  {name:<34} ALLOWED  {result}")
    except Exception as e:  # noqa: BLE001 - the demo reports every refusal
        print(f"  {name:<34} denied   {type(e).__name__}: {e}")

libc = ctypes.CDLL(None, use_errno=True)

def errno_call(r):
    if r != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return r

print("what the sandbox tried:")
attempt("read the host's /etc/shadow", lambda: open("/etc/shadow").read()[:20])
attempt("read root's SSH keys", lambda: os.listdir("/root/.ssh"))
def host_processes():
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    if len(pids) < 5:
        raise PermissionError(f"only the sandbox's own {len(pids)} processes are visible")
    return f"{len(pids)} processes visible"

attempt("see host processes", host_processes)
attempt("connect to 127.0.0.1:22 on the host", lambda: socket.create_connection(("127.0.0.1", 22), timeout=2))
attempt("reach the internet", lambda: socket.create_connection(("1.1.1.1", 443), timeout=2))
attempt("write into /usr/bin", lambda: open("/usr/bin/backdoor", "w"))
attempt("mount a filesystem", lambda: errno_call(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)))
attempt("ptrace", lambda: errno_call(libc.ptrace(0, 0, 0, 0)))
attempt("create a user namespace", lambda: errno_call(libc.unshare(0x10000000)))
attempt("become root", lambda: os.setuid(0))
attempt("read host environment secrets", lambda: {k: v for k, v in os.environ.items() if "TOKEN" in k or "KEY" in k} or (_ for _ in ()).throw(KeyError("no secrets in the environment")))
attempt("write the workspace", lambda: open("/workspace/result.txt", "w").write("ok") and "wrote /workspace/result.txt")
