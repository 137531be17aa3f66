"""A determined student against the sandbox itself (issue 7): each attack is a real notebook graded through the CLI
under bubblewrap, and each must fail without changing anyone else's grade or stopping the batch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, sandbox_mode, write_notebook

pytestmark = pytest.mark.skipif(sandbox_mode() != "bwrap", reason="these attacks are held by bubblewrap and seccomp")

EXAMPLES = ROOT / "examples" / "submissions"

# Rewrites the zygote's copy of np.max with np.min's bytes (forked memory has the same addresses), so that every
# later child would pool with min. Reports what happened in its error message.
POISON = '''
import ctypes, os
import numpy as np
def zero_pad(X, pad):
    size = type(np.max).__basicsize__
    body = ctypes.string_at(id(np.min) + 8, size - 8)  # everything but the reference count
    try:
        with open(f"/proc/{os.getppid()}/mem", "r+b", buffering=0) as memory:
            memory.seek(id(np.max) + 8)
            memory.write(body)
        raise ValueError("poisoned the zygote")
    except OSError as error:
        raise ValueError(f"blocked: {error}") from None
'''

# Leaves files behind; a later submission whose zero_pad fails if it finds them.
LEAVES_FILES = '''
import os
def zero_pad(X, pad):
    for folder in ("/tmp", "/dev/shm", os.path.expanduser("~")):
        try:
            with open(os.path.join(folder, "left-behind"), "w") as note:
                note.write("answers")
        except OSError:
            pass
    raise ValueError("left notes")
'''
FINDS_FILES = '''
import os
import numpy as np
def zero_pad(X, pad):
    found = [os.path.join(top, name) for folder in ("/tmp", "/dev/shm") for top, _, names in os.walk(folder)
             for name in names if name == "left-behind"]
    if found:
        raise ValueError(f"found {found}")
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
'''

# Lifts the print cap that the worker enforces inside the sandbox: the grader must cap what it receives itself.
LIFTS_PRINT_CAP = '''
import sys
import numpy as np
def zero_pad(X, pad):
    sys.stdout.limit = 10**9
    print("spam" * 500_000)
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
'''

# Each must be refused by the seccomp allow-list (or by the namespaces); the error message lists what got through.
FORBIDDEN = '''
import ctypes, os, socket, sys
def zero_pad(X, pad):
    libc = ctypes.CDLL(None, use_errno=True)
    arch = os.uname().machine
    numbers = {"x86_64": {"keyctl": 250, "io_uring_setup": 425, "process_vm_readv": 310, "ptrace": 101, "fcntl": 72},
               "aarch64": {"keyctl": 219, "io_uring_setup": 425, "process_vm_readv": 270, "ptrace": 117,
                           "fcntl": 25}}[arch]
    attempts = {
        "unshare": lambda: libc.unshare(0x10000000 | 0x00020000),  # CLONE_NEWUSER | CLONE_NEWNS
        "keyctl": lambda: libc.syscall(numbers["keyctl"], 0, -3, 0),  # KEYCTL_GET_KEYRING_ID of the session keyring
        "io_uring": lambda: libc.syscall(numbers["io_uring_setup"], 1, ctypes.create_string_buffer(120)),
        "ptrace": lambda: libc.syscall(numbers["ptrace"], 16, os.getppid(), 0, 0),  # PTRACE_ATTACH the zygote
        "process_vm_readv": lambda: libc.syscall(numbers["process_vm_readv"], os.getppid(), 0, 0, 0, 0, 0),
        "shmget": lambda: libc.shmget(0, 4096, 0o1600),  # IPC_PRIVATE | IPC_CREAT: would outlive the submission
        "memfd": lambda: libc.memfd_create(b"x", 0),
        # the host's /dev nodes are the sandbox root's own when the grader runs as root: a file of /tmp stands in
        "chmod": lambda: libc.chmod(b"/tmp/probe", 0o600),
        "utime": lambda: libc.utime(b"/tmp/probe", None),
        # I/O signals aimed at another process (the zygote): tried on a pipe of its own, and with the command's upper
        # bits set, which the kernel drops and a 64-bit comparison would not
        "F_SETOWN": lambda: libc.fcntl(pipe[1], 8, os.getpid()),
        "F_SETSIG": lambda: libc.fcntl(pipe[1], 10, 19),
        "F_SETOWN_EX": lambda: libc.fcntl(pipe[1], 15, ctypes.byref((ctypes.c_int * 2)(1, os.getpid()))),
        "F_SETOWN, upper bits": lambda: libc.syscall(numbers["fcntl"], pipe[1], (1 << 32) | 8, os.getpid()),
        "FIOSETOWN": lambda: libc.ioctl(pair[0].fileno(), 0x8901, ctypes.byref(ctypes.c_int(os.getpid()))),
    }
    open("/tmp/probe", "w").close()
    pipe, pair = os.pipe(), socket.socketpair()
    passed = [name for name, attempt in attempts.items() if attempt() >= 0]
    for name, attempt in (("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)),
                          ("inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
                          ("execve", lambda: os.execv(sys.executable, [sys.executable, "-c", "pass"]))):
        try:
            attempt()
            passed.append(name)
        except OSError:
            pass
    raise ValueError(f"got through: {passed}")
'''

# Steals a key from the grader's session keyring (where CI runners and desktops keep tokens).
STEALS_KEY = '''
import ctypes, os
def zero_pad(X, pad):
    libc = ctypes.CDLL(None, use_errno=True)
    keyctl = {"x86_64": 250, "aarch64": 219}[os.uname().machine]
    key = libc.syscall(keyctl, 10, -3, b"user", b"grader-test-token", 0)  # KEYCTL_SEARCH the session keyring
    buffer = ctypes.create_string_buffer(256)
    size = libc.syscall(keyctl, 11, key, buffer, 256)  # KEYCTL_READ
    raise ValueError(f"key {key}: {buffer.raw[:max(size, 0)]!r}")
'''

# conv_forward gets the reference zero_pad (zero_pad is wrong here): a padding of 12000 would cost the grader 4.6 GB.
ZERO_PAD_RAISES = "def zero_pad(X, pad):\n    raise ValueError('not done')\n"
HUGE_CALLBACK = '''
import numpy as np
def conv_forward(A_prev, W, b, hparameters):
    zero_pad(np.zeros((1, 1, 1, 1)), 12000)
    return None
'''
# The submission's own end of its channel to the grader (the third of the worker's five descriptor arguments).
CHANNEL = '''
import os, sys
def channel():
    return int(sys.argv[-3])
'''
# The submission's own line to the reference runner (the fourth of the worker's descriptor arguments).
REFERENCE_LINE = '''
import os, sys
def reference_line():
    return int(sys.argv[-2])
'''
# Asks for a large reference answer by writing the request itself, then never reads the reply.
STALLS_CALLBACK = REFERENCE_LINE + '''
import io, json, struct, time
import numpy as np
def conv_forward(A_prev, W, b, hparameters):
    array = io.BytesIO()
    np.save(array, np.zeros((1, 1, 1, 1)))  # padded by 400: a 5 MB answer, far more than a pipe holds
    request = json.dumps({"function": "zero_pad", "args": [[{"$array": 0}, 400], {"$dict": []}],
                          "$blobs": [len(array.getvalue())]}).encode()
    os.write(reference_line(), struct.pack("!I", len(request)) + request + array.getvalue())
    time.sleep(10**6)
'''
# A request whose function name is not a string: the runner answers that it is not available, and the function's own
# error is what the student sees (not "the grader failed on this submission").
ODD_CALLBACK = REFERENCE_LINE + '''
import json, struct
def conv_forward(A_prev, W, b, hparameters):
    request = json.dumps({"function": ["zero_pad"], "args": [], "$blobs": []}).encode()
    os.write(reference_line(), struct.pack("!I", len(request)) + request)
    raise ValueError("asked for an odd callback")
'''
# A frame announcing 256 MB of array, and garbage: the grader must refuse both before reading them.
FORGES_FRAMES = CHANNEL + '''
import json, struct, time
def conv_single_step(a_slice_prev, W, b):
    header = json.dumps({"op": "returned", "value": {"$array": 0}, "changed": {}, "$blobs": [256 * 2**20]}).encode()
    out = channel()
    os.write(out, struct.pack("!I", len(header)) + header)
    chunk = bytes(1 << 20)
    for _ in range(256):
        os.write(out, chunk)
def pool_forward(A_prev, hparameters, mode="max"):
    os.write(channel(), b"\\xff" * 100_000)
def forge(header, blobs=()):
    header = json.dumps({**header, "$blobs": [len(b) for b in blobs]}).encode() if isinstance(header, dict) else header
    os.write(channel(), struct.pack("!I", len(header)) + header + b"".join(blobs))
    time.sleep(1)
def create_mask_from_window(x):  # one 1 MB array named 3,000 times: 3 GB if each name were read anew
    import io
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(1 << 17), allow_pickle=False)
    forge({"op": "returned", "value": [{"$array": 0}] * 3000, "changed": {}, "output": "", "seconds": 0.0},
          [buffer.getvalue()])
def distribute_value(dz, shape):  # brackets nested 100,000 deep: JSON's parser runs out of recursion
    forge(b'{"op": "returned", "value": ' + b"[" * 100_000 + b"]" * 100_000 + b', "$blobs": []}')
def pool_backward(dA, cache, mode="max"):  # a duration no float holds
    forge({"op": "returned", "value": 1, "changed": {}, "output": "", "seconds": 10 ** 400})
'''

# While loading (a class body runs then), a frame saying the sandbox could not be locked down: the grader blamed itself.
FORGES_UNSAFE = CHANNEL + '''
import json, struct
class Forged:
    header = json.dumps({"op": "unsafe", "message": "seccomp_load failed", "$blobs": []}).encode()
    os.write(channel(), struct.pack("!I", len(header)) + header)
'''


def notebook(folder: Path, name: str, solution_cells: dict[str, str], **replaced: str) -> Path:
    cells = ["import numpy as np", *(replaced.get(f, code) for f, code in solution_cells.items())]
    return write_notebook(folder / f"{name}.ipynb", *cells)


def graded_with_rusage(*args: str | Path, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the CLI from a fresh interpreter that reports the largest resident size of any process below it (kB)."""
    probe = textwrap.dedent(f"""
        import resource, subprocess, sys
        result = subprocess.run([sys.executable, "-m", "grader", *sys.argv[1:]], cwd={str(ROOT)!r})
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
        sys.exit(result.returncode)
    """)
    result = subprocess.run([sys.executable, "-c", probe, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    return result, int(result.stderr.split()[-1])


def results(out: Path, name: str) -> dict:
    return json.loads((out / name / "results.json").read_text(encoding="utf-8"))


def function_tests(data: dict, function: str) -> list[dict]:
    return [t for t in data["tests"] if t["extra_data"]["function"] == function]


def function_passed(data: dict, function: str) -> bool:
    return all(t["status"] == "passed" for t in function_tests(data, function))


@pytest.fixture(scope="module", params=[1, 2], ids=["jobs1", "jobs2"])
def batch(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, solution_cells: dict[str, str]) -> dict:
    """Attackers first, then honest submissions, in one job (and in two): nothing may carry over."""
    folder = tmp_path_factory.mktemp(f"sandbox-jobs{request.param}")
    paths = [notebook(folder, f"poison{i}", solution_cells, zero_pad=POISON) for i in range(3)]
    paths += [notebook(folder, f"leaves_files{i}", solution_cells, zero_pad=LEAVES_FILES) for i in range(2)]
    paths += [notebook(folder, "forbidden", solution_cells, zero_pad=FORBIDDEN),
              notebook(folder, "lifts_print_cap", solution_cells, zero_pad=LIFTS_PRINT_CAP)]
    for index, example in enumerate(["alice_full_marks", "bob_partly_right"] * 2):
        paths.append(folder / f"{example}{index}.ipynb")
        shutil.copy(EXAMPLES / f"{example}.ipynb", paths[-1])
    paths += [notebook(folder, f"finds_files{i}", solution_cells, zero_pad=FINDS_FILES) for i in range(2)]
    out = folder / "out"
    result = run_cli("grade", "cnn_step_by_step", *paths, "--out", out, "--jobs", str(request.param), "--sandbox", "bwrap")
    assert result.returncode == 0, result.stderr
    return {"out": out, "alone": alone(tmp_path_factory)}


_alone: dict[str, dict] = {}


def alone(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The honest examples' results when graded on their own, once."""
    if not _alone:
        out = tmp_path_factory.mktemp("alone")
        for example in ("alice_full_marks", "bob_partly_right"):
            run_cli("grade", "cnn_step_by_step", EXAMPLES / f"{example}.ipynb", "--out", out / example, "--sandbox", "bwrap",
                    check=True)
            _alone[example] = results(out / example, example)
    return _alone


def test_poisoning_the_zygote_changes_no_one_elses_grade(batch: dict) -> None:
    for index in range(3):
        messages = " ".join(t["output"] for t in function_tests(results(batch["out"], f"poison{index}"), "zero_pad"))
        assert "poisoned the zygote" not in messages and "blocked" in messages
    for index, example in enumerate(["alice_full_marks", "bob_partly_right"] * 2):
        mine = results(batch["out"], f"{example}{index}")
        reference = batch["alone"][example]
        assert mine["score"] == reference["score"], example
        assert [t["status"] for t in mine["tests"]] == [t["status"] for t in reference["tests"]], example


def test_every_submission_starts_with_an_empty_tmp(batch: dict) -> None:
    for index in range(2):
        data = results(batch["out"], f"finds_files{index}")
        assert function_passed(data, "zero_pad"), function_tests(data, "zero_pad")[0]["output"]


def test_only_allowed_system_calls_get_through(batch: dict) -> None:
    (output,) = {t["output"] for t in function_tests(results(batch["out"], "forbidden"), "zero_pad") if t["extra_data"]["kind"] == "public"}
    assert "got through: []" in output, output


def test_printed_output_is_capped_by_the_grader_not_by_the_sandbox(batch: dict) -> None:
    data = results(batch["out"], "lifts_print_cap")
    assert function_passed(data, "zero_pad")
    printed = max((t["output"] for t in function_tests(data, "zero_pad")), key=len)
    assert "spam" in printed and len(printed) < 6_000  # output_kb = 4, and the report cap is 16 KB
    assert (batch["out"] / "lifts_print_cap" / "results.json").stat().st_size < 300_000


@pytest.fixture(scope="module")
def callbacks(tmp_path_factory: pytest.TempPathFactory, solution_cells: dict[str, str]) -> dict:
    folder = tmp_path_factory.mktemp("callbacks")
    paths = [notebook(folder, "huge_callback", solution_cells, zero_pad=ZERO_PAD_RAISES, conv_forward=HUGE_CALLBACK),
             notebook(folder, "stalls_callback", solution_cells, zero_pad=ZERO_PAD_RAISES, conv_forward=STALLS_CALLBACK),
             notebook(folder, "forges_frames", solution_cells, conv_single_step=FORGES_FRAMES, pool_forward="",
                      create_mask_from_window="", distribute_value="", pool_backward=""),
             notebook(folder, "odd_callback", solution_cells, zero_pad=ZERO_PAD_RAISES, conv_forward=ODD_CALLBACK),
             notebook(folder, "forges_unsafe", solution_cells, zero_pad=FORGES_UNSAFE + solution_cells["zero_pad"])]
    paths.append(folder / "alice.ipynb")
    shutil.copy(EXAMPLES / "alice_full_marks.ipynb", paths[-1])
    out = folder / "out"
    result, max_rss_kb = graded_with_rusage("grade", "cnn_step_by_step", *paths, "--out", out, "--sandbox", "bwrap")
    assert result.returncode == 0, result.stderr
    return {"out": out, "max_rss_kb": max_rss_kb}


def test_reference_callbacks_and_forged_frames_cannot_exhaust_the_grader(callbacks: dict) -> None:
    # 12000-pixel padding would need 4.6 GB; a forged frame 256 MB (and far more once decoded and drawn)
    assert callbacks["max_rss_kb"] < 1_500_000
    huge = function_tests(results(callbacks["out"], "huge_callback"), "conv_forward")
    assert {t["extra_data"]["outcome"] for t in huge} == {"error"}
    assert all("zero_pad ran out of memory" in t["output"] or "could not run" in t["output"] for t in huge
               if t["extra_data"]["kind"] == "public")


def test_a_sandbox_that_stops_reading_is_a_timeout_not_a_hang(callbacks: dict) -> None:
    stalled = results(callbacks["out"], "stalls_callback")
    assert {t["extra_data"]["outcome"] for t in function_tests(stalled, "conv_forward")} == {"timeout"}
    assert function_passed(stalled, "pool_forward")  # and the rest of the submission is graded normally


def test_a_callback_naming_no_string_is_refused_not_a_grader_failure(callbacks: dict) -> None:
    odd = results(callbacks["out"], "odd_callback")
    outcomes = {t["extra_data"]["outcome"] for t in function_tests(odd, "conv_forward")}
    # the refusal it never read is its own business (a later call of it may find the channel out of step: a crash)
    assert "error" in outcomes and outcomes <= {"error", "crash"}
    assert "asked for an odd callback" in function_tests(odd, "conv_forward")[0]["output"]
    assert "grader failed" not in odd["output"] and "grader-error" not in json.dumps(odd)
    assert function_passed(odd, "pool_forward")


def test_a_forged_word_of_the_sandbox_is_the_students_not_the_graders(callbacks: dict) -> None:
    """Only the worker speaks before student code runs: an "unsafe" frame written while loading is the notebook's
    doing, never "the sandbox could not be locked down ... not your fault"."""
    forged = results(callbacks["out"], "forges_unsafe")
    assert "grader-error" not in {t["extra_data"]["outcome"] for t in forged["tests"]}
    assert "locked down" not in json.dumps(forged) and "unexpected message" in forged["output"]


def test_forged_and_garbled_frames_cost_only_their_function(callbacks: dict) -> None:
    forged = results(callbacks["out"], "forges_frames")
    assert {t["extra_data"]["outcome"] for t in function_tests(forged, "conv_single_step")} == {"crash"}
    assert "larger than" in function_tests(forged, "conv_single_step")[0]["output"]
    assert {t["extra_data"]["outcome"] for t in function_tests(forged, "pool_forward")} == {"crash"}
    # none of these is the grader's failure (a RecursionError and an OverflowError escaped as "not your fault"); each
    # forged frame is taken as an answer and the function's own return as the next one: the student's to sort out
    later = [t for f in ("create_mask_from_window", "distribute_value", "pool_backward") for t in function_tests(forged, f)]
    assert {t["extra_data"]["outcome"] for t in later} == {"wrong", "crash"}
    said = " ".join(t["output"] for t in later)
    assert "malformed array reference" in said and "RecursionError" in said and "Overflow" not in said
    assert function_passed(forged, "zero_pad") and function_passed(forged, "conv_backward")
    assert results(callbacks["out"], "alice")["score"] == 100


def test_the_graders_session_keyring_is_out_of_reach(tmp_path: Path, solution_cells: dict[str, str]) -> None:
    path = notebook(tmp_path, "steals_key", solution_cells, zero_pad=STEALS_KEY)
    secret = "s3cret-course-token"
    launcher = textwrap.dedent(f"""
        import ctypes, os, subprocess, sys
        libc = ctypes.CDLL(None, use_errno=True)
        add_key, keyctl = {{"x86_64": (248, 250), "aarch64": (217, 219)}}[os.uname().machine]
        assert libc.syscall(keyctl, 1, None) > 0  # a fresh session keyring of our own, inherited by the grader
        payload = {secret!r}.encode()
        assert libc.syscall(add_key, b"user", b"grader-test-token", payload, len(payload), -3) > 0
        sys.exit(subprocess.run([sys.executable, "-m", "grader", *sys.argv[1:]], cwd={str(ROOT)!r}).returncode)
    """)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-c", launcher, "grade", "cnn_step_by_step", path, "--out", out,
                             "--sandbox", "bwrap"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    data = results(out, "steals_key")
    assert {t["extra_data"]["outcome"] for t in function_tests(data, "zero_pad")} == {"error"}
    for report in out.rglob("*"):
        if report.is_file():
            assert secret not in report.read_text(encoding="utf-8", errors="replace"), report
