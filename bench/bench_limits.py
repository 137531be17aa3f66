"""How much room ``[limits] call_seconds`` leaves a correct solution: the evidence for choosing it.

For each graded function of an assignment, the slowest single call over every public and hidden check
(``grader.grading.suite.load_suite``, run as ``grader validate`` times the reference) of

(a) the reference from the master notebook, and
(b) the slowest reasonable correct style: pure-Python scalar loops, no vectorisation at all. For cnn_step_by_step,
    conv_single_step a triple loop summing products; zero_pad, conv_forward, pool_forward, conv_backward and
    pool_backward looping over every index down to single elements. For optimization_methods, every entry of
    every weight and bias updated on its own, mini-batches copied element by element (update_lr and
    schedule_lr_decay are one line of arithmetic either way). These functions are checked first: they must
    pass every public and hidden check under three seeds, else the bench says which fail.

Times are taken in this process, without the sandbox, the fastest of ``--repeats`` runs of each check. A graded call
also carries its arguments and answer across the sandbox's channel (and, when the function leans on a graded
function the student got wrong, one round trip per call of that reference), so the slowest call is also timed
as grading makes it (column "sandboxed"): the slow style (without one, the master notebook) loaded into a
sandbox worker (bubblewrap where installed) and called through the grader's Proxy, wall clock of the whole call
(plus the grader's copy of the arguments). Column "callbacks": the same for functions whose reference calls
other graded functions (conv_forward, conv_backward, pool_backward), as if the student got all of those wrong,
so that isolation answers each of their calls with the reference through a round trip out of the sandbox.
call_seconds counts the child's CPU time only (not the reference's answers, not the machine's other work); a
single call is too short for the kernel's count (10 ms ticks), so the sandboxed columns are wall clock, which is
more. Per function: the slowest reference call, the slowest slow-style call, the margin call_seconds leaves it
(in process), and the margin it leaves the slower of the two sandboxed columns; then the smallest margin, the
child's CPU time in one round trip to the reference (2000 calls of one; beside what ``grader validate`` counts
for it), and the whole submission's time of calls (every check once, as one grading runs them; sandboxed, with
the child's CPU time) beside ``cpu_seconds``, the CPU limit of one submission's worker. ``--load`` runs a
busy-loop process beside the measurement, as in a batch with ``--jobs 2`` on two cores. Prints figures, asserts nothing.

    .venv/bin/python bench/bench_limits.py [--assignment cnn_step_by_step] [--repeats 5] [--load] [--no-sandbox]
"""

from __future__ import annotations

import argparse
import inspect
import multiprocessing
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from grader.authoring.limits import CALLBACK_SECONDS, SlowestCall, duration, margin, slowest_calls, where
from grader.config import Assignment, load_assignment
from grader.grading.suite import Suite, load_suite

#: seeds the slow style is checked under, besides the suite's own: any of them picks other random inputs
CHECK_SEEDS = (1, 2)


# The slowest reasonable correct style for cnn_step_by_step: every value touched one at a time.

def zero_pad(X: Any, pad: int) -> Any:
    m, n_H, n_W, n_C = X.shape
    X_pad = np.zeros((m, n_H + 2 * pad, n_W + 2 * pad, n_C), dtype=X.dtype)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    X_pad[i, h + pad, w + pad, c] = X[i, h, w, c]
    return X_pad


def conv_single_step(a_slice_prev: Any, W: Any, b: Any) -> Any:
    f_H, f_W, n_C = a_slice_prev.shape
    Z = 0.0
    for h in range(f_H):
        for w in range(f_W):
            for c in range(n_C):
                Z = Z + a_slice_prev[h, w, c] * W[h, w, c]
    return Z + b[0, 0, 0]


def conv_forward(A_prev: Any, W: Any, b: Any, hparameters: dict) -> tuple:
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, f, _, n_C = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    n_H = (n_H_prev + 2 * pad - f) // stride + 1
    n_W = (n_W_prev + 2 * pad - f) // stride + 1
    A_prev_pad = zero_pad(A_prev, pad)
    Z = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    top, left = h * stride, w * stride
                    window = A_prev_pad[i, top:top + f, left:left + f, :]
                    Z[i, h, w, c] = conv_single_step(window, W[:, :, :, c], b[:, :, :, c])
    return Z, (A_prev, W, b, hparameters)


def pool_forward(A_prev: Any, hparameters: dict, mode: str = "max") -> tuple:
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    f, stride = hparameters["f"], hparameters["stride"]
    n_H = (n_H_prev - f) // stride + 1
    n_W = (n_W_prev - f) // stride + 1
    A = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    best = A_prev[i, h * stride, w * stride, c]
                    total = 0.0
                    for dh in range(f):
                        for dw in range(f):
                            value = A_prev[i, h * stride + dh, w * stride + dw, c]
                            if value > best:
                                best = value
                            total = total + value
                    A[i, h, w, c] = best if mode == "max" else total / (f * f)
    return A, (A_prev, hparameters)


def conv_backward(dZ: Any, cache: tuple) -> tuple:
    A_prev, W, _b, hparameters = cache
    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    f, f, n_C_prev, n_C = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    m, n_H, n_W, n_C = dZ.shape
    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = np.zeros(A_prev_pad.shape)
    dW = np.zeros((f, f, n_C_prev, n_C))
    db = np.zeros((1, 1, 1, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    dz = dZ[i, h, w, c]
                    db[0, 0, 0, c] += dz
                    for dh in range(f):
                        for dw in range(f):
                            for k in range(n_C_prev):
                                row, col = h * stride + dh, w * stride + dw
                                dA_prev_pad[i, row, col, k] += W[dh, dw, k, c] * dz
                                dW[dh, dw, k, c] += A_prev_pad[i, row, col, k] * dz
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        for h in range(n_H_prev):
            for w in range(n_W_prev):
                for k in range(n_C_prev):
                    dA_prev[i, h, w, k] = dA_prev_pad[i, h + pad, w + pad, k]
    return dA_prev, dW, db


def create_mask_from_window(x: Any) -> Any:
    n_H, n_W = x.shape
    best = x[0, 0]
    for h in range(n_H):
        for w in range(n_W):
            if x[h, w] > best:
                best = x[h, w]
    mask = np.zeros((n_H, n_W), dtype=bool)
    for h in range(n_H):
        for w in range(n_W):
            mask[h, w] = x[h, w] == best
    return mask


def distribute_value(dz: Any, shape: tuple) -> Any:
    n_H, n_W = shape
    average = dz / (n_H * n_W)
    a = np.zeros((n_H, n_W))
    for h in range(n_H):
        for w in range(n_W):
            a[h, w] = average
    return a


def pool_backward(dA: Any, cache: tuple, mode: str = "max") -> Any:
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    top, left = h * stride, w * stride
                    if mode == "max":
                        share = create_mask_from_window(A_prev[i, top:top + f, left:left + f, c]) * dA[i, h, w, c]
                    else:
                        share = distribute_value(dA[i, h, w, c], (f, f))
                    for dh in range(f):
                        for dw in range(f):
                            dA_prev[i, top + dh, left + dw, c] += share[dh, dw]
    return dA_prev


# The same for optimization_methods: every entry of every array updated on its own.

def _each(shape: tuple) -> list[tuple]:
    """Every index of an array of ``shape`` (2-D here: weights and biases), row by row."""
    return [(r, c) for r in range(shape[0]) for c in range(shape[1])]


def update_parameters_with_gd(parameters: dict, grads: dict, learning_rate: float) -> dict:
    new_parameters = {}
    for layer in range(1, len(parameters) // 2 + 1):
        for name in ("W", "b"):
            P, G = parameters[name + str(layer)], grads["d" + name + str(layer)]
            out = np.zeros(P.shape, dtype=np.result_type(P, G))
            for r, c in _each(P.shape):
                out[r, c] = P[r, c] - learning_rate * G[r, c]
            new_parameters[name + str(layer)] = out
    return new_parameters


def random_mini_batches(X: Any, Y: Any, mini_batch_size: int = 64, seed: int = 0) -> list:
    m = X.shape[1]
    permutation = np.random.default_rng(seed).permutation(m)
    mini_batches = []
    for start in range(0, m, mini_batch_size):
        columns = [int(permutation[k]) for k in range(start, min(start + mini_batch_size, m))]
        batch_X = np.zeros((X.shape[0], len(columns)), dtype=X.dtype)
        batch_Y = np.zeros((Y.shape[0], len(columns)), dtype=Y.dtype)
        for j, column in enumerate(columns):
            for r in range(X.shape[0]):
                batch_X[r, j] = X[r, column]
            for r in range(Y.shape[0]):
                batch_Y[r, j] = Y[r, column]
        mini_batches.append((batch_X, batch_Y))
    return mini_batches


def _zeros_like(P: Any) -> Any:
    out = np.empty(P.shape, dtype=P.dtype)
    for r, c in _each(P.shape):
        out[r, c] = 0.0
    return out


def initialize_velocity(parameters: dict) -> dict:
    v = {}
    for layer in range(1, len(parameters) // 2 + 1):
        for name in ("W", "b"):
            v["d" + name + str(layer)] = _zeros_like(parameters[name + str(layer)])
    return v


def update_parameters_with_momentum(parameters: dict, grads: dict, v: dict, beta: float, learning_rate: float) -> tuple:
    new_parameters, new_v = {}, {}
    for layer in range(1, len(parameters) // 2 + 1):
        for name in ("W", "b"):
            key, P = "d" + name + str(layer), parameters[name + str(layer)]
            velocity = np.zeros(P.shape, dtype=np.result_type(v[key], grads[key]))
            out = np.zeros(P.shape, dtype=np.result_type(P, velocity))
            for r, c in _each(P.shape):
                velocity[r, c] = beta * v[key][r, c] + (1 - beta) * grads[key][r, c]
                out[r, c] = P[r, c] - learning_rate * velocity[r, c]
            new_v[key], new_parameters[name + str(layer)] = velocity, out
    return new_parameters, new_v


def initialize_adam(parameters: dict) -> tuple:
    v, s = {}, {}
    for layer in range(1, len(parameters) // 2 + 1):
        for name in ("W", "b"):
            v["d" + name + str(layer)] = _zeros_like(parameters[name + str(layer)])
            s["d" + name + str(layer)] = _zeros_like(parameters[name + str(layer)])
    return v, s


def update_parameters_with_adam(parameters: dict, grads: dict, v: dict, s: dict, t: int, learning_rate: float = 0.01,
                                beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8) -> tuple:
    new_parameters: dict = {}
    new_v: dict = {}
    new_s: dict = {}
    v_corrected: dict = {}
    s_corrected: dict = {}
    for layer in range(1, len(parameters) // 2 + 1):
        for name in ("W", "b"):
            key, P, G = "d" + name + str(layer), parameters[name + str(layer)], grads["d" + name + str(layer)]
            kind = np.result_type(v[key], s[key], G)
            for table in (new_v, new_s, v_corrected, s_corrected):
                table[key] = np.zeros(P.shape, dtype=kind)
            out = np.zeros(P.shape, dtype=np.result_type(P, kind))
            for r, c in _each(P.shape):
                new_v[key][r, c] = beta1 * v[key][r, c] + (1 - beta1) * G[r, c]
                v_corrected[key][r, c] = new_v[key][r, c] / (1 - beta1 ** t)
                new_s[key][r, c] = beta2 * s[key][r, c] + (1 - beta2) * G[r, c] ** 2
                s_corrected[key][r, c] = new_s[key][r, c] / (1 - beta2 ** t)
                out[r, c] = P[r, c] - learning_rate * v_corrected[key][r, c] / (s_corrected[key][r, c] ** 0.5 + epsilon)
            new_parameters[name + str(layer)] = out
    return new_parameters, new_v, new_s, v_corrected, s_corrected


def update_lr(learning_rate0: float, epoch_num: int, decay_rate: float) -> float:
    return learning_rate0 / (1 + decay_rate * epoch_num)


def schedule_lr_decay(learning_rate0: float, epoch_num: int, decay_rate: float, time_interval: int = 1000) -> float:
    return learning_rate0 / (1 + decay_rate * (epoch_num // time_interval))


SLOW_STYLES: dict[str, dict[str, Callable[..., Any]]] = {
    "cnn_step_by_step": {f.__name__: f for f in (zero_pad, conv_single_step, conv_forward, pool_forward, conv_backward,
                                                  create_mask_from_window, distribute_value, pool_backward)},
    "optimization_methods": {f.__name__: f for f in (
        update_parameters_with_gd, random_mini_batches, initialize_velocity, update_parameters_with_momentum,
        initialize_adam, update_parameters_with_adam, update_lr, schedule_lr_decay)},
}
#: helpers the slow style calls, written into its notebook before the graded functions
SLOW_HELPERS: dict[str, tuple[Callable[..., Any], ...]] = {"optimization_methods": (_each, _zeros_like)}


def _spin() -> None:
    while True:
        pass


def _slowest(calls: list[SlowestCall]) -> dict[str, SlowestCall]:
    found: dict[str, SlowestCall] = {}
    for call in calls:
        if call.calls and (call.function not in found or call.seconds > found[call.function].seconds):
            found[call.function] = call
    return found


def _failures(suite: Suite, functions: dict[str, Callable[..., Any]]) -> tuple[int, list[str]]:
    """Every check the slow style fails, under the suite's hidden inputs and those of CHECK_SEEDS."""
    suites = [suite] + ([Suite(suite.public, suite.build_hidden(seed), suite.reference) for seed in CHECK_SEEDS]
                        if suite.build_hidden is not None else [])
    runs = [c for s in suites for c in slowest_calls(s, functions, repeats=1)]
    return len(runs), sorted({f"{c.function}: {c.check}: {c.error}" for c in runs if c.error})


def slow_style_notebook(functions: list[Callable[..., Any]], folder: Path) -> Path:
    """The slow style as a student's notebook: an import cell, then one cell per function."""
    notebook = nbformat.v4.new_notebook()
    sources = ["import numpy as np\nfrom typing import Any"] + [inspect.getsource(f) for f in functions]
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, folder / "slow_style.ipynb")
    return folder / "slow_style.ipynb"


def sandboxed_calls(assignment: Assignment, suite: Suite, notebook: Path, names: list[str], repeats: int,
                    stubbed: bool = False) -> tuple[str, list[SlowestCall], float | None]:
    """The slowest call of each check with ``notebook``'s functions graded as a student's: loaded into a sandbox
    worker (bubblewrap where installed), called through grading's Proxy; and the child's CPU time for every check
    once. ``stubbed``: only the functions whose reference calls other graded functions, each as if the student got
    all of those wrong, so that every call of one is answered by the reference through a round trip out of the
    sandbox (isolation's callbacks)."""
    from grader.grading.extract import allowed_chunks, extract_submission
    from grader.grading.grade import Proxy
    from grader.grading.sandbox import Worker, resolve_mode

    mode = resolve_mode("auto")
    worker = Worker(mode, assignment.limits, assignment.course_files)
    try:
        loaded = worker.load(allowed_chunks(extract_submission(notebook), assignment), names)
        if loaded.failure or loaded.errors:
            raise SystemExit(f"{notebook.name} did not load in the sandbox: {loaded.failure or loaded.errors}")
        if stubbed:
            worker.use_reference(suite.reference)
        proxies = {name: Proxy(worker, name, suite.stubs_for(name, set(names)) if stubbed else {}) for name in names
                   if not stubbed or suite.depends.get(name)}
        before = worker.cpu_seconds()
        # the wall clock: a proxy's call is spent in the sandbox (the CPU time of its child is ``_spent``'s figure)
        calls = slowest_calls(suite, proxies, repeats, budget=float("inf"), clock=time.perf_counter)  # type: ignore[arg-type]
        return mode, calls, _spent(before, worker.cpu_seconds(), repeats)
    finally:
        worker.end()
        worker.close()


def _spent(before: float | None, after: float | None, count: int) -> float | None:
    """The child's CPU time per ``count`` between two readings; None when the kernel's count could not be read."""
    return None if before is None or after is None else (after - before) / count


def round_trip_cpu(calls: int = 2000) -> tuple[float | None, float]:
    """The child's CPU time and the wall clock of one round trip to the reference: a function that calls a stubbed
    one ``calls`` times with a (3, 3, 4) array, as conv_forward calls conv_single_step."""
    from types import SimpleNamespace

    from grader.config import Limits
    from grader.grading.sandbox import Worker, resolve_mode
    from grader.model import Chunk, Submission

    code = ("import numpy as np\ndef helper(x):\n    return x\ndef caller(n):\n    a = np.ones((3, 3, 4))\n"
            "    for _ in range(n):\n        helper(a)\n")
    worker = Worker(resolve_mode("auto"), Limits(call_seconds=30))
    worker.use_reference(SimpleNamespace(helper=lambda x: float(np.sum(x))))
    try:
        worker.load(Submission("round_trip.ipynb", (Chunk(1, 1, "def", ("helper", "caller"), code),)), ["helper", "caller"])
        worker.call("caller", (10,), {}, frozenset({"helper"}))  # the runner started
        before, started = worker.cpu_seconds(), time.perf_counter()
        worker.call("caller", (calls,), {}, frozenset({"helper"}))
        return _spent(before, worker.cpu_seconds(), calls), (time.perf_counter() - started) / calls
    finally:
        worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="cnn_step_by_step")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each check; its slowest call in the fastest run")
    parser.add_argument("--load", action="store_true", help="keep the other core busy with a busy-loop process")
    parser.add_argument("--no-sandbox", action="store_true", help="skip the sandboxed timing of the slow style")
    args = parser.parse_args()
    assignment = load_assignment(args.assignment)
    suite = load_suite(assignment)
    assert suite.reference is not None, "the bench needs the instructor's solutions/ folder"
    names = [f.name for f in assignment.functions]
    slow = SLOW_STYLES.get(assignment.name, {})
    if slow:
        checked, failing = _failures(suite, slow)
        print(f"slow style: {checked - len(failing)} of {checked} check runs passed (3 seeds)"
              + "".join(f"\n  FAILS {line}" for line in failing))
    spinner = multiprocessing.Process(target=_spin, daemon=True) if args.load else None
    if spinner:
        spinner.start()
        time.sleep(0.2)
    try:
        reference = slowest_calls(suite, {n: getattr(suite.reference, n) for n in names}, args.repeats, budget=float("inf"),
                                  counted=suite.depends)
        slowest_calls(suite, slow, repeats=1)  # warm-up: first calls pay for NumPy's lazy set-ups
        slow_calls = slowest_calls(suite, slow, args.repeats, budget=float("inf"))
        mode = ""
        boxed: list[SlowestCall] = []
        stubbed: list[SlowestCall] = []
        boxed_cpu: float | None = None
        stubbed_cpu: float | None = None
        trip: tuple[float | None, float] = (None, 0.0)
        if not args.no_sandbox:
            with tempfile.TemporaryDirectory(prefix="bench-limits-") as folder:
                notebook = slow_style_notebook([*SLOW_HELPERS.get(assignment.name, ()), *slow.values()],
                                                               Path(folder)) if slow else assignment.master_notebook
                mode, boxed, boxed_cpu = sandboxed_calls(assignment, suite, notebook, names, args.repeats)
                if assignment.isolate:
                    _, stubbed, stubbed_cpu = sandboxed_calls(assignment, suite, notebook, names, args.repeats, stubbed=True)
            trip = round_trip_cpu()
    finally:
        if spinner:
            spinner.terminate()
            spinner.join()
    limit = assignment.limits.call_seconds
    by_reference, by_slow = _slowest(reference), _slowest(slow_calls)
    by_boxed, by_stubbed = _slowest(boxed), _slowest(stubbed)
    boxed_style = "slow style" if slow else "reference"
    print(f"\n{assignment.name}, {'other core busy (--load)' if args.load else 'idle'}, fastest of {args.repeats}; "
          f"call_seconds = {limit:g} s; sandboxed: " + (f"the {boxed_style} in a {mode} worker" if boxed else "not measured"))
    width = max(len(name) for name in names)
    spot = max([len("slowest slow-style call"), *(len(where(c)) for c in by_slow.values())])
    header = (f"{'function':<{width}} {'reference':>10} {'slow style':>10} {'sandboxed':>10} {'callbacks':>10}  "
              f"{'slowest slow-style call':<{spot}} {'margin':>8} {'sandboxed':>9}")
    print(header + "\n" + "-" * len(header))
    margins: list[tuple[float, str, SlowestCall]] = []
    for name in names:
        ref, slowest, box, stub = by_reference.get(name), by_slow.get(name), by_boxed.get(name), by_stubbed.get(name)
        timed = slowest or ref
        if timed is None:
            print(f"{name:<{width}} not called by any check")
            continue
        margins.append((limit / timed.seconds, f"{'slow style' if slowest else 'reference'}, in process", timed))
        margins += [(limit / c.seconds, f"{boxed_style}, sandboxed, wall clock{how}", c)
                    for c, how in ((box, ""), (stub, ", every graded function it calls by callback")) if c]
        boxed_worst = max((c.seconds for c in (box, stub) if c), default=0.0)
        print(f"{name:<{width}} {duration(ref.seconds) if ref else '-':>10} "
              f"{duration(slowest.seconds) if slowest else '-':>10} {duration(box.seconds) if box else '-':>10} "
              f"{duration(stub.seconds) if stub else '-':>10}  {where(slowest) if slowest else '-':<{spot}} "
              f"{margin(limit / timed.seconds):>8} {margin(limit / boxed_worst) if boxed_worst else '-':>9}")
    if margins:
        smallest, how, timed = min(margins, key=lambda m: m[0])
        print(f"\nsmallest margin call_seconds = {limit:g} s leaves: {margin(smallest)} "
              f"({how}: {where(timed)}, {duration(timed.seconds)})")
    if trip[1]:
        print(f"one round trip to the reference out of the sandbox (2000 calls of a stubbed function): "
              f"{duration(trip[0]) if trip[0] is not None else 'unread'} of the child's CPU time, which call_seconds "
              f"counts ({duration(trip[1])} of wall "
              f"clock, the reference's answer included); grader validate counts {duration(CALLBACK_SECONDS)}")
    for label, calls, cpu in (("reference", reference, None), ("slow style", slow_calls, None),
                              (f"{boxed_style}, sandboxed", boxed, boxed_cpu),
                              (f"{boxed_style}, sandboxed with callbacks", stubbed, stubbed_cpu)):
        if calls:
            worst = max(calls, key=lambda c: c.worst)
            child = f", {duration(cpu)} of the child's CPU time" if cpu is not None else ""
            print(f"{label}: every check once: {duration(sum(c.total for c in calls))} of calls{child} "
                  f"(cpu_seconds = {assignment.limits.cpu_seconds} s for the whole submission); its slowest "
                  f"single call in any of the {args.repeats} runs: {duration(worst.worst)} ({where(worst)})")


if __name__ == "__main__":
    main()
