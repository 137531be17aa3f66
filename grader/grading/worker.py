"""The only code that runs beside student code. It is started inside the sandbox as a script.

It imports NumPy once, then for each submission forks a fresh process that sets its resource
limits, loads the submission's chunks and calls its functions on request, sending back plain
data (see wire.py). It never sees tests, expected values or reference solutions; it can only
ask the reference runner (grading/callbacks.py, a process of the grader's outside the sandbox) to
run a reference function on its behalf (isolation), and the runner answers only what the grader
allowed for the call under way.

Three channels and a meter, so that nothing a submission does reaches the next one. The control channel
(two pipes named first on the command line, never stdin/stdout: bubblewrap's init, PID 1 of the sandbox, keeps
its standard streams open, and a child could reopen them from /proc/1/fd) is the zygote's: the
grader sends ``load`` or ``end`` there, and the zygote answers ``ready``, ``exited``. The data
channel (two more pipes, named on the command line) is the child's: it answers ``loaded`` and then
serves ``call`` messages (``returned``, ``raised``, ...). The child's line to the reference runner
(two more pipes, named after them) carries its requests and the runner's answers. A socket (named
first) carries nothing but, for each child, its /proc stat file, open: the grader reads the child's CPU
time there, its limit on a call. The child closes the control channel and that socket before any
student code runs, and the zygote is not dumpable, so student code can neither forge the zygote's
messages nor touch its memory; what a child leaves unread on its channels is drained before the next
child starts (the runner that served it is stopped), and its files are wiped.
"""

from __future__ import annotations
import __future__

import builtins
import contextlib
import functools
import gc
import hashlib
import io
import json
import linecache
import operator
import os
import resource
import signal
import stat
import sys
import time
import traceback
import warnings
from typing import Any

import numpy as np
import numpy.random  # lazy in NumPy: each child would import it again, ~10 ms, at the first np.random.randn
import wire

IN_PID_NAMESPACE = os.environ.get("GRADER_SANDBOX") == "bwrap"
PIPE_BYTES = 1 << 16  # Linux's size of a new pipe


def display(*objects: Any, **options: Any) -> None:
    """IPython's ``display``, a builtin in every notebook, as a plain-text front end shows it: each object's repr."""
    for shown in objects:
        print(repr(shown))


class CappedText(io.TextIOBase):
    """A stdout/stderr replacement that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reset()

    def reset(self) -> None:
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: Any) -> int:
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def value(self) -> str:
        text = "".join(self.parts)
        return text + (f"\n... ({self.dropped} more characters not shown)" if self.dropped else "")


def _student_traceback(error: BaseException) -> str:
    """The traceback trimmed to the student's own cells, then the error line."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith("cell ")]
    if len(frames) > 8:
        frames = [*frames[:3], *frames[-3:]]
        skipped = "  ... (more calls of the same functions)\n"
    else:
        skipped = ""
    # One frame at a time: format_list would fold the kept frames of a recursion into "[Previous line repeated 3 more
    # times]", a count of what is shown, not of the calls made.
    lines = ["".join(line for line in traceback.format_list([frame])[0].splitlines(True) if line.strip(" ^~\n"))
             for frame in frames]
    if skipped:
        lines.insert(3, skipped)
    return "".join(lines) + "".join(traceback.format_exception_only(type(error), error)).strip()


def _digest(value: Any) -> str:
    blobs: list[bytes] = []
    try:
        head = json.dumps(wire.encode(value, blobs)).encode()
    except (wire.WireError, TypeError, ValueError):
        return "unencodable"
    return hashlib.sha256(head + b"".join(blobs)).hexdigest()


#: Every ``from __future__`` feature's compiler flag.
FUTURES = functools.reduce(operator.or_, (getattr(__future__, name).compiler_flag for name in __future__.all_feature_names))

#: Shares of the grader's limit on loading a notebook (``load_seconds``): when a cell still running is stopped, and
#: when the cells after it must be done. The rest is the margin for the answer to reach the grader.
LOAD_STOP, LOAD_END = 0.85, 0.95


class _StoppedCell(BaseException):
    """Raised in a cell still running at its time (a BaseException: ``except Exception`` in the loop lets it pass)."""


_cell_running = False  # whether the alarm would land in a cell's code (rather than the worker's own, between cells)


def _stop_cell(signum: int, frame: Any) -> None:
    if not _cell_running:
        signal.setitimer(signal.ITIMER_REAL, 0.001)  # between cells: the next one is stopped as it starts
        return
    raise _StoppedCell


class Unsafe(Exception):
    """The sandbox could not be locked down: no student code may run."""


def _libseccomp() -> Any:
    import ctypes

    try:
        return ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        pass
    import ctypes.util  # imports subprocess, shutil and tempfile (~4 ms of every sandbox's start): only when needed

    name = ctypes.util.find_library("seccomp")  # runs ldconfig: only when the usual name is not found
    try:
        return ctypes.CDLL(name or "libseccomp.so.2", use_errno=True)
    except OSError:
        raise Unsafe("libseccomp is not installed") from None


#: What student code may ask of the kernel; everything else fails with EPERM. Files, memory, time, signals to
#: itself, threads, pipes and Unix sockets; no new process, no other process's memory, no namespaces or mounts,
#: no keyrings, no SysV IPC (it would outlive the submission), no io_uring, bpf or perf; no chmod or utime: the
#: sandbox's root is the host's when the grader runs as root, and /dev's nodes are the host's own (a notebook made the
#: host's /dev/null mode 0, and no sandbox started after it: red-team finding).
ALLOWED_SYSCALLS = """
read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 open openat openat2 close close_range creat
lseek stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2 readlink readlinkat getdents
getdents64 getcwd chdir fchdir mkdir mkdirat rmdir unlink unlinkat rename renameat renameat2 link linkat symlink
symlinkat truncate ftruncate fsync fdatasync sync_file_range fallocate fadvise64 flock dup
dup2 dup3 pipe pipe2 umask copy_file_range sendfile splice tee
mmap mprotect munmap mremap msync mincore madvise brk mlock munlock mlock2 get_mempolicy
rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait rt_sigsuspend sigaltstack restart_syscall
select pselect6 poll ppoll epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 eventfd eventfd2
timerfd_create timerfd_settime timerfd_gettime signalfd signalfd4 inotify_init inotify_init1 inotify_add_watch
inotify_rm_watch nanosleep clock_nanosleep clock_gettime clock_getres gettimeofday time times getitimer setitimer alarm
sched_yield sched_getaffinity sched_getparam sched_getscheduler sched_get_priority_max
sched_get_priority_min getpriority getcpu getpid getppid gettid getuid geteuid getgid getegid getgroups getresuid
getresgid getpgrp getpgid getsid getrlimit setrlimit getrusage sysinfo uname exit exit_group wait4 waitid
futex futex_waitv get_robust_list set_robust_list set_tid_address rseq arch_prctl prctl getrandom membarrier capget
socketpair connect bind listen accept accept4 getsockname getpeername sendto recvfrom sendmsg recvmsg sendmmsg
recvmmsg shutdown setsockopt getsockopt
""".split()
#: fcntl and ioctl only for what plain code does with its files (compared on the low 32 bits, all the kernel reads):
#: never F_SETOWN, F_SETOWN_EX, F_SETSIG or FIOSETOWN, which aim I/O signals at any process. A child set them on the
#: pipe it shares with the zygote, and the grader's next read sent the zygote SIGSTOP: the next notebook's load
#: timed out (red-team finding).
FCNTL_COMMANDS = (0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 16, 36, 37, 38, 1030, 1032)  # dup, flags, locks, get owner and signal
IOCTL_REQUESTS = (0x5401, 0x5413, 0x541B, 0x5421, 0x5450, 0x5451)  # TCGETS (isatty), TIOCGWINSZ, FIONREAD, FIONBIO, FIO(N)CLEX
#: Allowed only for the calling process itself (first argument = its pid): signals to itself.
SELF_ONLY_SYSCALLS = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
#: Allowed for the calling process only, named by its pid or by 0: another process's limits and CPUs are not the
#: child's to change (prlimit64 on the zygote lowered every later submission's memory, files and CPU time).
OWN_SYSCALLS = ("prlimit64", "sched_setaffinity")
_CLONE_THREAD, _AF_UNIX = 0x10000, 1
_ALLOW, _EPERM, _ENOSYS = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
_CMP_EQ, _CMP_MASKED_EQ = 4, 7


class _Filter:
    """The allow-list as a libseccomp context, built once in the zygote (resolving some 300 syscall names costs
    milliseconds) and completed in each child with the rules that name the child's own pid."""

    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        self.lib = lib = _libseccomp()
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]
        fields = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
        self.compare: Any = type("Compare", (ctypes.Structure,), {"_fields_": fields})  # libseccomp's scmp_arg_cmp
        self.context = lib.seccomp_init(_EPERM)
        if not self.context:
            raise Unsafe("seccomp_init failed")
        for name in ALLOWED_SYSCALLS:
            self.rule(_ALLOW, name)
        self.rule(_ALLOW, "clone", (0, _CMP_MASKED_EQ, _CLONE_THREAD, _CLONE_THREAD))
        self.rule(_ALLOW, "socket", (0, _CMP_EQ, _AF_UNIX, 0))
        for command in FCNTL_COMMANDS:
            self.rule(_ALLOW, "fcntl", (1, _CMP_MASKED_EQ, 0xFFFFFFFF, command))
        for request in IOCTL_REQUESTS:
            self.rule(_ALLOW, "ioctl", (1, _CMP_MASKED_EQ, 0xFFFFFFFF, request))
        self.rule(_ENOSYS, "clone3")
        for name in OWN_SYSCALLS:
            self.rule(_ALLOW, name, (0, _CMP_EQ, 0, 0))

    def rule(self, action: int, name: str, *compare: tuple[int, int, int, int]) -> None:
        number = self.lib.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            return  # not a syscall on this architecture
        array = (self.compare * max(1, len(compare)))(*(self.compare(*c) for c in compare))
        if self.lib.seccomp_rule_add_array(self.ctypes.c_void_p(self.context), action, number, len(compare), array) != 0:
            raise Unsafe(f"seccomp rule for {name} failed")

    def lock_down(self) -> None:
        """In the child: signals to itself only, then the filter goes on for good. Raises Unsafe if anything fails."""
        pid = os.getpid()
        for name in (*SELF_ONLY_SYSCALLS, *OWN_SYSCALLS):
            self.rule(_ALLOW, name, (0, _CMP_EQ, pid, 0))
        if self.lib.seccomp_load(self.ctypes.c_void_p(self.context)) != 0:
            raise Unsafe("seccomp_load failed")


def _set_limits(limits: dict[str, Any]) -> None:
    with open("/proc/self/status") as status:
        vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    memory = vm_kb * 1024 + int(limits["memory_mb"]) * 1024 * 1024
    cpu = int(limits["cpu_seconds"])
    for which, value, grace in (
        (resource.RLIMIT_AS, memory, 0),
        # the kernel sends SIGKILL at the hard CPU limit before SIGXCPU at an equal soft one: a second of grace
        # lets SIGXCPU arrive first, so the grader reports the time limit rather than "killed (out of memory?)"
        (resource.RLIMIT_CPU, cpu, 1),
        (resource.RLIMIT_FSIZE, 16 * 1024 * 1024, 0),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, 256, 0),
        (resource.RLIMIT_NOFILE, 256, 0),
    ):
        soft, hard = value, value + grace
        ceiling = resource.getrlimit(which)[1]
        if ceiling != resource.RLIM_INFINITY:
            soft, hard = min(soft, ceiling), min(hard, ceiling)
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError) as error:
            raise Unsafe(f"resource limit {which} could not be set: {error}") from error


class Session:
    """One submission, loaded in a forked child."""

    def __init__(self, fds: tuple[int, int, int, int], request: dict[str, Any]) -> None:
        self.fd_in, self.fd_out, self.reference_out, self.reference_in = fds
        self.output = CappedText(int(request["limits"]["output_kb"]) * 1024)
        sys.stdout = sys.stderr = self.output  # what loading prints is dropped with the first call's reset
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        builtins.display = display  # type: ignore[attr-defined]  # as IPython puts it there
        self.load_errors: list[dict[str, Any]] = []
        self.futures = 0  # the compiler flags of the notebook's ``from __future__`` imports so far
        self.sources: dict[str, list[str]] = {}
        if request.get("course_dir"):  # helper modules and data files, as beside the notebook in Jupyter
            sys.path.insert(0, request["course_dir"])
            os.chdir(request["course_dir"])
        self._load_all(request["chunks"], float(request.get("load_seconds") or 0))

    def _load_all(self, chunks: list[dict[str, Any]], seconds: float) -> None:
        """Every chunk, within the grader's limit on loading (``seconds``, counted by the grader from a little
        earlier): a cell still running at LOAD_STOP of it (a long loop at the top level) is stopped and reported,
        and the cells after it share what is left until LOAD_END, so that the functions that do not need it are
        still graded. A cell that blocks or catches the alarm runs into the grader's own limit, which ends it all."""
        started = time.monotonic()
        if seconds <= 0:  # no limit given
            for chunk in chunks:
                self._load(chunk)
            return
        stop, end = started + LOAD_STOP * seconds, started + LOAD_END * seconds
        signal.signal(signal.SIGALRM, _stop_cell)
        try:
            for chunk in chunks:
                now = time.monotonic()
                if now >= end:
                    self.load_errors.append({"cell": chunk["cell"], "line": chunk["line"], "error": (
                        f"not run: an earlier cell was still running after {LOAD_STOP * seconds:g} s and used up the "
                        "time the notebook's definitions may take to load")})
                    continue
                alarm = stop if now < stop else end
                signal.setitimer(signal.ITIMER_REAL, alarm - now)
                self._load(chunk, stopped_after=alarm - started)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)

    def _load(self, chunk: dict[str, Any], stopped_after: float = 0.0) -> None:
        """Run one chunk; ``stopped_after``: how far into loading the alarm that may stop it is set (``_load_all``)."""
        filename = f"cell {chunk['cell']}"
        code = chunk["code"]
        # Several chunks can come from one cell: merge their lines so tracebacks can quote any of them.
        lines = self.sources.setdefault(filename, [])
        for index, line in enumerate(code.splitlines(True)):
            if index >= len(lines):
                lines.append(line)
            elif line.strip():
                lines[index] = line
        linecache.cache[filename] = (len(code), None, lines, filename)
        global _cell_running
        try:
            _cell_running = True
            # not the worker's own __future__s, but the notebook's earlier ones, as IPython carries them from cell to cell
            compiled = compile(code, filename, "exec", flags=self.futures, dont_inherit=True)
            self.futures |= compiled.co_flags & FUTURES
            exec(compiled, self.namespace)
        except _StoppedCell:
            signal.setitimer(signal.ITIMER_REAL, 0)
            # The statement and the limit, not the line the alarm landed on nor the time it took to land: both differ
            # from one run to the next, and the same notebook must always get the same feedback.
            lineno, first = next(((n, line.strip()) for n, line in enumerate(code.splitlines(), 1) if line.strip()),
                                 (chunk["line"], ""))
            self.load_errors.append({"cell": chunk["cell"], "line": chunk["line"], "error": (
                f'  File "{filename}", line {lineno}, in <module>\n    {first}\nstopped: this statement was still running '
                f"when the notebook had been loading for {stopped_after:.1f} s (a long loop or computation at the "
                "top level?); the functions that need what it defines cannot be graded. Move that work into a function, "
                "or out of the notebook.")})
        except BaseException as error:  # anything a chunk does wrong costs that chunk only
            self.load_errors.append({"cell": chunk["cell"], "line": chunk["line"], "error": _student_traceback(error)})
        finally:
            _cell_running = False

    def _stub(self, name: str) -> Any:
        """Stands in for a graded function the submission got wrong: the reference answers, from its own process
        outside the sandbox (grading/callbacks.py), through a pipe pair of its own."""

        def stub(*args: Any, **kwargs: Any) -> Any:
            blobs: list[bytes] = []
            try:
                encoded = wire.encode([list(args), kwargs], blobs)
            except wire.WireError as error:
                raise TypeError(f"{name} was called with {error}") from None
            wire.send(self.reference_out, {"function": name, "args": encoded}, blobs)
            reply, reply_blobs = wire.receive(self.reference_in)
            if reply.get("op") == "callback-result":
                return wire.decode(reply["value"], reply_blobs)
            raise RuntimeError(str(reply.get("message", f"{name} failed")))

        stub.__name__ = stub.__qualname__ = name
        return stub

    def call(self, request: dict[str, Any], blobs: list[bytes]) -> None:
        function = self.namespace.get(request["function"])
        args, kwargs = wire.decode(request["args"], blobs)
        arguments = {**{str(index): arg for index, arg in enumerate(args)}, **kwargs}  # keys: "0", "1", ... and names
        before = {key: _digest(arg) for key, arg in arguments.items()}
        replaced = {name: self.namespace.get(name) for name in request.get("stubs", [])}
        for name in replaced:
            self.namespace[name] = self._stub(name)
        self.output.reset()
        sys.stdout = sys.stderr = self.output
        started = time.perf_counter()
        try:
            result = function(*args, **kwargs)  # type: ignore[misc]
        except BaseException as error:  # SystemExit and KeyboardInterrupt too: they are the student's
            self._restore(replaced)
            kind = "memory" if isinstance(error, MemoryError) else "raised"
            wire.send(self.fd_out, {"op": kind, "type": type(error).__name__, "traceback": _student_traceback(error),
                                    "output": self.output.value(), "seconds": time.perf_counter() - started})
            return
        seconds = time.perf_counter() - started
        self._restore(replaced)
        out_blobs: list[bytes] = []
        try:
            value = wire.encode(result, out_blobs)
        except wire.WireError as error:
            wire.send(self.fd_out, {"op": "unencodable", "message": str(error), "output": self.output.value(),
                                    "seconds": seconds})
            return
        changed = {}
        for key, arg in arguments.items():
            if _digest(arg) != before[key]:
                try:
                    changed[key] = wire.encode(arg, out_blobs)
                except wire.WireError:
                    changed[key] = None
        wire.send(self.fd_out, {"op": "returned", "value": value, "changed": changed, "output": self.output.value(),
                                "seconds": seconds}, out_blobs)

    def _restore(self, replaced: dict[str, Any]) -> None:
        sys.stdout = sys.stderr = self.output
        for name, original in replaced.items():
            self.namespace[name] = original

    def serve(self, functions: list[str]) -> None:
        defined = [name for name in functions if callable(self.namespace.get(name))]
        wire.send(self.fd_out, {"op": "loaded", "defined": defined, "errors": self.load_errors})
        while True:
            request, blobs = wire.receive(self.fd_in)
            if request.get("op") != "call":
                return
            self.call(request, blobs)


def _run_child(fds: tuple[int, int, int, int], request: dict[str, Any], seccomp: _Filter) -> None:
    try:
        _set_limits(request["limits"])
        seccomp.lock_down()
    except Unsafe as error:
        wire.send(fds[1], {"op": "unsafe", "message": str(error)})
        return
    # the child's first word, before any student code runs: what the channel says after it may be the student's (a
    # forged "unsafe" made the grader blame its own sandbox)
    wire.send(fds[1], {"op": "locked"})
    warnings.simplefilter("default")
    np.random.seed(0)  # every child starts from the same random state, not the zygote's draw: the same run each time
    session = Session(fds, request)
    session.serve(request["functions"])


def _kill_leftovers() -> None:
    """Nothing a submission started may outlive it: in bubblewrap's PID namespace that is every
    process but bwrap's init and this one; without it, the rest of this process group."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (1, os.getpid()):
            continue
        try:
            if IN_PID_NAMESPACE or os.getpgid(int(entry)) == os.getpgrp():
                os.kill(int(entry), signal.SIGKILL)
        except OSError:
            pass


def _wipe(folder: str, mode: int) -> None:
    """Empty a writable folder (the private /tmp, /dev/shm) and give it back its ``mode``, so the next submission
    starts from nothing. A submission may have made it or its subfolders read-only (chmod), and the zygote has no
    capability to ignore that: every folder is made writable again first. What is mounted there stays, with the
    folders that lead to it: an interpreter installed under /tmp is bound read-only at its own path. Never raises:
    the zygote must outlive whatever a submission left."""
    try:
        os.chmod(folder, mode)
        device = os.stat(folder).st_dev
    except OSError:
        return
    stack = [(folder, False)]  # depth first without recursion: a submission may nest folders thousands deep
    while stack:
        current, emptied = stack.pop()
        if emptied:
            if current != folder:
                with contextlib.suppress(OSError):  # it still leads to a mount point
                    os.rmdir(current)
            continue
        stack.append((current, True))
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISDIR(info.st_mode):
                    os.unlink(entry.path)
                elif info.st_dev == device:  # a folder of this file system, not something mounted here
                    os.chmod(entry.path, 0o700)
                    stack.append((entry.path, False))


def _harden_zygote() -> None:
    """No process of a submission may read or write the zygote's memory (PR_SET_DUMPABLE 0), and none may
    see the grader's keys (a new, empty session keyring)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_dumpable, keyctl_join_session_keyring = 4, 1
    if libc.prctl(pr_set_dumpable, 0, 0, 0, 0) != 0:
        raise Unsafe("prctl(PR_SET_DUMPABLE, 0) failed")
    keyctl = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
    if keyctl is None or libc.syscall(keyctl, keyctl_join_session_keyring, None) < 0:
        raise Unsafe("a new session keyring could not be joined")


def _serve_child(own: tuple[int, int, int], fds: tuple[int, int, int, int], request: dict[str, Any],
                 seccomp: _Filter) -> int:
    """Fork the child for one submission and wait until it exits or the grader says ``end``; its exit code. ``own``:
    the zygote's control channel (in, out) and its line for the child's meter, all closed in the child; ``fds``: the
    child's data channel (in, out) and its line to the reference runner (out, in)."""
    control_in, meter = own[0], own[2]
    for fd in fds:
        _reset_pipe(fd)
    wire.drain(fds[0])
    wire.drain(fds[3])  # answers a runner gave an earlier child that never read them (that runner is gone)
    child = os.fork()
    if child == 0:
        for fd in own:
            os.close(fd)
        code = 0
        try:
            _run_child(fds, request, seccomp)
        except BaseException:
            code = 70
        os._exit(code)
    _send_meter(meter, child)
    import select

    exited = os.pidfd_open(child)
    try:
        stat_file = os.open(f"/proc/{child}/stat", os.O_RDONLY)
    except OSError:
        stat_file = -1
    too_many = False
    while True:
        ready = select.select([exited, control_in], [], [], THREADS_EVERY)[0]
        if exited in ready:
            break
        if not ready:
            too_many = _threads(stat_file) > wire.MAX_THREADS
            if too_many:
                os.kill(child, signal.SIGKILL)
                break
            continue
        try:
            message, _ = wire.receive(control_in)
        except (EOFError, wire.WireError):
            message = {"op": "end"}
        if message.get("op") == "end":
            if "coverage" in sys.modules:  # measurement only (GRADER_COVERAGE): coverage saves the child's data on SIGTERM
                os.kill(child, signal.SIGTERM)
                select.select([exited], [], [], 5.0)
            os.kill(child, signal.SIGKILL)
            break
    os.close(exited)
    if stat_file >= 0:
        os.close(stat_file)
    _, status = os.waitpid(child, 0)
    return wire.TOO_MANY_THREADS if too_many else os.waitstatus_to_exitcode(status)


#: How often the zygote counts a running child's threads (wire.MAX_THREADS).
THREADS_EVERY = 0.005


def _threads(stat_file: int) -> int:
    """A child's number of threads, from its stat file (0 if it cannot be read)."""
    try:
        line = os.pread(stat_file, 1024, 0)
        return int(line[line.rfind(b")") + 2:].split()[17])  # num_threads, after the name the child may set
    except (OSError, ValueError, IndexError):
        return 0


def _reset_pipe(fd: int) -> None:
    """The child shares its pipes' open files with the zygote and every child after it: whatever flags it set on
    them (non-blocking, O_ASYNC signals to an owner, packet mode) or whatever size it gave them would be the next
    submission's, whose answers would then fail. Set back to a new pipe's state before each child."""
    import fcntl

    fcntl.fcntl(fd, fcntl.F_SETFL, 0)  # blocking, no O_ASYNC, O_DIRECT or O_APPEND; the access mode cannot change
    fcntl.fcntl(fd, fcntl.F_SETOWN, 0)
    with contextlib.suppress(OSError):  # EBUSY while it holds more than that: drained below, read by then
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)  # named in Python 3.10


def _send_meter(meter: int, child: int) -> None:
    """Hand the grader the child's /proc stat file, open, where it reads the CPU time the child has used: its limit
    on a call (the child's PID means nothing outside this namespace; an open file does). A message without a file,
    if it cannot be opened: the grader then counts wall-clock time."""
    import _socket

    try:
        stat_file = os.open(f"/proc/{child}/stat", os.O_RDONLY)
    except OSError:
        stat_file = -1
    line = _socket.socket(fileno=meter)
    try:
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, stat_file.to_bytes(4, sys.byteorder))] if stat_file >= 0 else []
        line.sendmsg([b"m"], rights, _socket.MSG_DONTWAIT)
    except OSError:
        pass  # a grader that reads nothing more counts wall-clock time
    finally:
        line.detach()
        if stat_file >= 0:
            os.close(stat_file)


def main() -> None:
    control_in, control_out, meter, data_in, data_out, reference_out, reference_in = map(int, sys.argv[1:8])
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        _harden_zygote()
        seccomp = _Filter()
    except Unsafe as error:
        wire.send(control_out, {"op": "unsafe", "message": str(error)})
        return
    gc.freeze()  # what the zygote imported: the children's collections never scan it (nor copy its pages doing so)
    gc.enable()
    wire.send(control_out, {"op": "ready", "pid": os.getpid()})
    scratch = os.getcwd()
    folders = (scratch, "/dev/shm") if IN_PID_NAMESPACE else (scratch,)
    modes = {folder: os.stat(folder).st_mode & 0o7777 for folder in folders}
    while True:
        try:
            request, _ = wire.receive(control_in)
        except EOFError:
            return
        if request.get("op") != "load":
            continue
        code = _serve_child((control_in, control_out, meter), (data_in, data_out, reference_out, reference_in), request,
                            seccomp)
        _kill_leftovers()
        for folder in folders:
            _wipe(folder, modes[folder])
        wire.send(control_out, {"op": "exited", "code": code})


if __name__ == "__main__":
    main()
