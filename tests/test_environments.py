"""Pinned environments (issue 10): NumPy 1 notebooks graded as they ran, in a sandbox that shows only the environment.

One environment (NumPy 1.26.4 with matplotlib, as a course's student image would have) is built once for the module
into the user's cache folder, where later runs find it; the tests of building itself use a cache folder of their own.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import grader.grading.sandbox
from grader.config import load_assignment
from grader.errors import UsageError
from grader.grading import wire
from grader.running.environments import BuildError, Environment, EnvironmentSpec, build, prune
from tests.conftest import ROOT, run_cli, sandbox_mode, write_notebook

NUMPY_1 = ("numpy==1.26.4", "matplotlib==3.8.4")
FLOAT_OF_B = ("Z + b.item()", "Z + float(b)")  # NumPy 1: a (1, 1, 1) array converts to a number
NP_FLOAT = ("Z = np.sum(s)", "Z = np.float(np.sum(s))")  # NumPy ≤ 1.23: np.float is float


def _course(folder: Path, requirements: tuple[str, ...] | None) -> Path:
    """A copy of the course whose CNN assignment pins ``requirements`` (None: no [environment])."""
    for part in ("solutions", "assignments"):
        shutil.copytree(ROOT / part, folder / part)
    if requirements is not None:
        with open(folder / "solutions" / "cnn_step_by_step" / "assignment.toml", "a", encoding="utf-8") as toml:
            toml.write(f"\n[environment]\nrequirements = {json.dumps(list(requirements))}\n")
    return folder


def _submission(folder: Path, name: str, solution_cells: dict[str, str], change: tuple[str, str] | None = None,
                **replaced: str) -> Path:
    """The reference solutions, with one text replacement in conv_single_step or whole functions replaced."""
    cells = dict(solution_cells, **replaced)
    if change:
        assert change[0] in cells["conv_single_step"]
        cells["conv_single_step"] = cells["conv_single_step"].replace(*change)
    return write_notebook(folder / f"{name}.ipynb", "import numpy as np", *cells.values())


def _results(out: Path, name: str) -> dict[str, Any]:
    return json.loads((out / name / "results.json").read_text(encoding="utf-8"))


def _passed(data: dict[str, Any], function: str) -> bool:
    own = [t for t in data["tests"] if t["extra_data"]["function"] == function]
    return bool(own) and all(t["status"] == "passed" for t in own)


def _mistakes(data: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m["function"], m["id"]) for m in data["extra_data"]["mistakes"]}


@pytest.fixture(scope="module")
def numpy_1() -> Environment:
    return build(EnvironmentSpec.parse({"requirements": list(NUMPY_1)}))


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory, numpy_1: Environment) -> Path:
    return _course(tmp_path_factory.mktemp("numpy1"), NUMPY_1)


# --- grading in an environment ---------------------------------------------------------------------------------------

def test_numpy_1_code_gets_full_marks_in_a_numpy_1_environment(course: Path, tmp_path: Path,
                                                                  solution_cells: dict[str, str]) -> None:
    submission = _submission(tmp_path, "float_of_b", solution_cells, FLOAT_OF_B)
    run_cli("grade", "cnn_step_by_step", submission, "--out", tmp_path / "out", "--sandbox", sandbox_mode(),
            cwd=course, check=True)
    data = _results(tmp_path / "out", "float_of_b")
    assert data["score"] == 100 and all(t["status"] == "passed" for t in data["tests"])
    environment = data["extra_data"]["environment"]
    assert environment["packages"]["numpy"] == "1.26.4" and environment["requirements"] == sorted(NUMPY_1)


def test_on_the_graders_numpy_2_the_same_code_fails_with_its_hint(tmp_path: Path, solution_cells: dict[str, str]) -> None:
    float_of_b = _submission(tmp_path, "float_of_b", solution_cells, FLOAT_OF_B)
    np_float = _submission(tmp_path, "np_float", solution_cells, NP_FLOAT)
    run_cli("grade", "cnn_step_by_step", float_of_b, np_float, "--out", tmp_path / "out", "--sandbox", sandbox_mode(),
            check=True)
    for name, mistake in (("float_of_b", "float-of-array"), ("np_float", "np-float")):
        data = _results(tmp_path / "out", name)
        assert not _passed(data, "conv_single_step") and _passed(data, "conv_forward")  # isolation lends the reference
        assert ("conv_single_step", mistake) in _mistakes(data)
        assert data["extra_data"]["environment"]["packages"]["numpy"] == np.__version__


def test_np_float_gets_full_marks_under_numpy_1_23(tmp_path: Path, solution_cells: dict[str, str]) -> None:
    requirements = ("numpy==1.23.5", "matplotlib==3.7.5")
    try:
        build(EnvironmentSpec.parse({"requirements": list(requirements)}))
    except BuildError as error:
        pytest.skip(f"NumPy 1.23 cannot be installed for Python {sys.version_info.major}.{sys.version_info.minor} "
                    f"here (np.float was removed in 1.24): {error}")
    course = _course(tmp_path / "course", requirements)
    submission = _submission(tmp_path, "np_float", solution_cells, NP_FLOAT)
    run_cli("grade", "cnn_step_by_step", submission, "--out", tmp_path / "out", "--sandbox", sandbox_mode(),
            cwd=course, check=True)
    data = _results(tmp_path / "out", "np_float")
    assert data["score"] == 100 and all(t["status"] == "passed" for t in data["tests"])
    assert data["extra_data"]["environment"]["packages"]["numpy"] == "1.23.5"


def test_compare_names_the_verdicts_numpy_2_changes_with_their_hints(course: Path, tmp_path: Path,
                                                                        solution_cells: dict[str, str]) -> None:
    float_of_b = _submission(tmp_path, "float_of_b", solution_cells, FLOAT_OF_B)
    right = _submission(tmp_path, "right", solution_cells)
    result = run_cli("env", "compare", "cnn_step_by_step", float_of_b, right, "--with", "grader", "--json",
                     tmp_path / "changes.json", "--sandbox", sandbox_mode(), cwd=course, check=True)
    changes = json.loads((tmp_path / "changes.json").read_text(encoding="utf-8"))
    assert [(Path(c["submission"]).name, c["function"], c["before"], c["after"]) for c in changes] == \
        [("float_of_b.ipynb", "conv_single_step", True, False)]
    assert changes[0]["mistakes"] == ["float-of-array"] and "float()" in changes[0]["hints"][0]
    assert "float_of_b.ipynb  conv_single_step: passed -> failed" in result.stdout


def test_a_reference_that_needs_numpy_2_is_refused_in_a_numpy_1_environment(tmp_path: Path, numpy_1: Environment) -> None:
    """The reference must answer the same under the environment's NumPy: here it calls a NumPy 2 function."""
    course = _course(tmp_path / "course", NUMPY_1)
    master = course / "solutions" / "cnn_step_by_step" / "cnn_step_by_step.ipynb"
    text = master.read_text(encoding="utf-8")
    assert text.count("Z = np.sum(s)") == 1
    master.write_text(text.replace("Z = np.sum(s)", "Z = np.sum(s) + np.cumulative_sum(np.zeros(1))[0]"), encoding="utf-8")
    submission = write_notebook(tmp_path / "any.ipynb", "import numpy as np")
    result = run_cli("grade", "cnn_step_by_step", submission, "--out", tmp_path / "out", "--sandbox", sandbox_mode(),
                     cwd=course)
    assert result.returncode == 1
    assert "fails its own checks in the environment matplotlib==3.8.4 numpy==1.26.4" in result.stderr
    assert "conv_single_step" in result.stderr and "no attribute 'cumulative_sum'" in result.stderr
    assert not (tmp_path / "out" / "any").exists()


# --- the sandbox shows only the environment -----------------------------------------------------------------------

SPY = '''
import json, os, socket, sys
import numpy as np
def zero_pad(X, pad):
    seen = {{"sys.path": sys.path, "numpy": np.__version__, "imports": {{}}, "reads": {{}}, "writes": {{}}, "base_site": {{}}}}
    breached = []
    for name in ("grader", "nbformat", "jinja2"):
        try:
            __import__(name)
            breached.append("import " + name)
        except ImportError as error:
            seen["imports"][name] = type(error).__name__
    for path in {reads!r}:
        try:
            with open(path) as source:
                breached.append(path + ": " + source.read(40))
        except OSError as error:
            seen["reads"][path] = type(error).__name__
    for folder in {base_site!r}:
        seen["base_site"][folder] = os.listdir(folder) if os.path.isdir(folder) else "missing"
    for folder in {writes!r}:
        try:
            with open(os.path.join(folder, "{name}"), "w") as out:
                out.write("import os")
            breached.append("wrote " + folder)
        except OSError as error:
            seen["writes"][folder] = str(error)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect({listener!r})
            client.sendall(b"{token}")
        breached.append("connected")
    except OSError as error:
        seen["connect"] = type(error).__name__
    if breached:
        return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    raise ValueError("REPORT" + json.dumps(seen) + "END")
'''


@pytest.mark.skipif(sandbox_mode() != "bwrap", reason="what the sandbox hides needs bubblewrap")
def test_a_pinned_environment_shows_student_code_nothing_else(course: Path, tmp_path: Path, numpy_1: Environment,
                                                                solution_cells: dict[str, str]) -> None:
    """Imports of the grader's packages fail, the grader's site-packages and the course's files cannot be read, the
    environment's folders cannot be written, a host socket cannot be reached, and NumPy is the environment's."""
    token, name = secrets.token_hex(8), f"spy-{secrets.token_hex(4)}.pth"
    grader_site = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "nbformat").is_dir())
    reads = [str(Path(grader_site) / "nbformat" / "__init__.py"), str(grader.grading.sandbox.HERE / "suite.py"),
             str(course / "solutions" / "cnn_step_by_step" / "hidden_tests.py")]
    site = next(p for p in numpy_1.path.glob("lib/python*/site-packages"))
    writes = [str(site), str(numpy_1.path / "bin"), numpy_1.base_prefix]
    spy = SPY.format(reads=reads, writes=writes, base_site=list(numpy_1.masked), name=name, token=token,
                     listener=str(tmp_path / "listener.sock"))
    submission = _submission(tmp_path, "spy", solution_cells, zero_pad=spy)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(tmp_path / "listener.sock"))
        listener.listen(1)
        run_cli("grade", "cnn_step_by_step", submission, "--out", tmp_path / "out", "--sandbox", "bwrap", cwd=course,
                check=True)
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert [w for w in writes if (Path(w) / name).exists()] == []
    data = _results(tmp_path / "out", "spy")
    public = next(t for t in data["tests"] if t["extra_data"]["function"] == "zero_pad" and t["extra_data"]["kind"] == "public")
    found = re.search(r"REPORT(\{.*?\})END", public["output"])
    assert found, public["output"]
    seen = json.loads(found[1])
    assert seen["numpy"] == "1.26.4"
    assert seen["imports"] == {"grader": "ModuleNotFoundError", "nbformat": "ModuleNotFoundError",
                               "jinja2": "ModuleNotFoundError"}
    assert set(seen["reads"]) == set(reads)
    assert all("Read-only file system" in why for why in seen["writes"].values()) and set(seen["writes"]) == set(writes)
    assert seen["base_site"] and all(listing in ([], "missing") for listing in seen["base_site"].values())
    allowed = (str(numpy_1.path), numpy_1.base_prefix, "/opt/grader", "/opt/course", "/usr/")
    assert [p for p in seen["sys.path"] if p and not p.startswith(allowed)] == []
    assert not any(p.startswith(str(ROOT)) or p == grader_site for p in seen["sys.path"])
    assert _passed(data, "conv_forward") and _passed(data, "pool_forward")


# --- the wire across NumPy 1 and 2 ---------------------------------------------------------------------------------

VALUES = '''
import numpy as np
def values():
    return {
        "float64": np.array([[1.5, -0.0], [np.nan, np.inf]]),
        "big_endian": np.arange(6, dtype=">f8").reshape(2, 3),
        "big_int": np.arange(4, dtype=">i4"),
        "float32": np.linspace(0, 1, 5, dtype=np.float32),
        "float16": np.array([0.5, np.nan], dtype=np.float16),
        "int8": np.array([-128, 127], dtype=np.int8),
        "uint64": np.array([2**64 - 1], dtype=np.uint64),
        "bool": np.array([True, False]),
        "complex": np.array([1 + 2j, -3j], dtype=np.complex64),
        "zero_d": np.array(2.5),
        "zero_d_nan": np.array(np.nan, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.int16),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "shape_111": np.full((1, 1, 1), -1.25),
        "scalars": (np.float64(np.nan), np.float32(0.1), np.int64(-7), np.bool_(True), np.uint8(255)),
        "plain": [float("nan"), float("-inf"), 2**70, "text", None, {"nested": (1, 2.5)}],
    }
'''

ENV_SIDE = '''
import io, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import wire
exec(open(sys.argv[2]).read())
incoming, blobs = wire.receive(0)
decoded = wire.decode(incoming["value"], blobs)
out = []
echo = wire.encode(decoded, out)
mine = []
own = wire.encode(values(), mine)
sys.stdout.buffer.write(wire.frame({"echo": echo, "own": own, "numpy": np.__version__}, out + mine))
'''


def _same(a: Any, b: Any) -> bool:
    """Equal in type, dtype (byte order included), shape and bits; NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype.str == b.dtype.str and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, np.generic):
        return a.dtype.str == b.dtype.str and a.tobytes() == b.tobytes()
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


def _read_from(data: bytes) -> Callable[[int, int], bytes]:
    stream = memoryview(data)
    position = [0]

    def read(_fd: int, size: int) -> bytes:
        chunk = bytes(stream[position[0]:position[0] + size])
        position[0] += size
        return chunk

    return read


def test_arrays_cross_unchanged_between_numpy_1_and_the_graders_numpy(tmp_path: Path, numpy_1: Environment) -> None:
    (tmp_path / "values.py").write_text(VALUES, encoding="utf-8")
    folder = tmp_path / "worker"
    folder.mkdir()
    shutil.copy(grader.grading.sandbox.HERE / "wire.py", folder / "wire.py")  # as in the sandbox: wire.py alone
    namespace: dict[str, Any] = {}
    exec(VALUES, namespace)
    expected = namespace["values"]()
    blobs: list[bytes] = []
    sent = wire.frame({"value": wire.encode(expected, blobs)}, blobs)
    done = subprocess.run([numpy_1.python, "-I", "-c", ENV_SIDE, str(folder), str(tmp_path / "values.py")], input=sent,
                          capture_output=True, check=True, env={"PATH": "/usr/bin:/bin"})
    message, reply_blobs = wire.receive(0, _read_from(done.stdout))
    assert message["numpy"] == "1.26.4" and np.__version__.startswith("2.")
    echoed = wire.decode(message["echo"], reply_blobs)
    own = wire.decode(message["own"], reply_blobs)
    for key in expected:
        assert _same(expected[key], echoed[key]), key  # grader → NumPy 1 → grader
        assert _same(expected[key], own[key]), key  # built and encoded by NumPy 1, decoded here
    assert own["big_endian"].dtype.byteorder == ">" and own["zero_d"].shape == () and np.isnan(own["zero_d_nan"])


# --- building ------------------------------------------------------------------------------------------------------

def _cli_env(cache: Path) -> dict[str, str]:
    """The environment of a CLI run whose environments go to ``cache`` (pip keeps its own cache)."""
    pip_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip"
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}, "XDG_CACHE_HOME": str(cache),
            "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(pip_cache))}


def _build_at_once(course: Path, cache: Path, count: int) -> list[subprocess.CompletedProcess[str]]:
    processes = [subprocess.Popen([sys.executable, "-m", "grader", "env", "build", "cnn_step_by_step"], cwd=course,
                                  env=_cli_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(count)]
    done = [(p, *p.communicate(timeout=600)) for p in processes]
    return [subprocess.CompletedProcess(p.args, p.returncode, out, err) for p, out, err in done]


def test_two_builds_at_once_make_one_environment(tmp_path: Path, numpy_1: Environment) -> None:
    course = _course(tmp_path / "course", ("numpy==1.26.4",))
    cache = tmp_path / "cache"
    first, second = _build_at_once(course, cache, 2)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.split()[0] == second.stdout.split()[0]
    assert (first.stderr + second.stderr).count("building the environment") == 1
    folders = sorted(p.name for p in (cache / "grader" / "environments").iterdir() if p.is_dir())
    spec = load_assignment(course / "solutions" / "cnn_step_by_step").environment
    assert spec is not None and folders == [spec.key]
    listed = subprocess.run([sys.executable, "-m", "grader", "env", "list"], env=_cli_env(cache), capture_output=True,
                            text=True, check=True)
    assert spec.key in listed.stdout and "1 environment(s)" in listed.stdout


def test_a_requirement_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    missing = f"grader-no-such-package-{secrets.token_hex(4)}==1.0"
    course = _course(tmp_path / "course", ("numpy==1.26.4", missing))
    cache = tmp_path / "cache"
    (result,) = _build_at_once(course, cache, 1)
    assert result.returncode == 1
    assert result.stderr.startswith("building the environment")
    assert "error: installing" in result.stderr and missing.split("==")[0] in result.stderr
    assert "fix [environment] in assignment.toml" in result.stderr
    assert "Traceback" not in result.stderr
    assert [p.name for p in (cache / "grader" / "environments").iterdir() if p.is_dir()] == []  # nothing half-built


def test_prune_keeps_what_the_course_uses_and_a_build_under_way(tmp_path: Path) -> None:
    for name in ("kept", "stale", ".build-busy-abc123", ".build-gone-xyz789"):
        (tmp_path / name).mkdir()
    with open(tmp_path / "busy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        removed = prune({"kept"}, cache=tmp_path)
    assert sorted(p.name for p in removed) == [".build-gone-xyz789", "stale"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [".build-busy-abc123", "kept"]


@pytest.mark.parametrize(("table", "words"), [
    ({"requirements": ["numpy>=1.26"]}, "pin every requirement"),
    ({"requirements": ["scipy==1.13.0"]}, "must pin numpy"),
    ({"requirements": ["numpy==1.26.4"], "python": "three"}, "python must be a version"),
    ({"requirements": "numpy==1.26.4"}, "must be a list"),
    ({"requirement": ["numpy==1.26.4"]}, "takes requirements"),
])
def test_an_environment_table_that_cannot_be_built_as_written_is_a_usage_error(table: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        EnvironmentSpec.parse(table)


def test_the_key_names_the_packages_not_their_order() -> None:
    one = EnvironmentSpec.parse({"requirements": ["numpy==1.26.4", "scipy==1.13.0"]})
    two = EnvironmentSpec.parse({"requirements": ["scipy==1.13.0", " numpy==1.26.4"]})
    other = EnvironmentSpec.parse({"requirements": ["numpy==1.26.3", "scipy==1.13.0"]})
    assert one.key == two.key != other.key
    assert one.with_kernel().key not in (one.key, other.key)
    assert EnvironmentSpec.from_text("numpy==1.26.4, scipy==1.13.0") == one


def test_a_python_that_is_not_installed_is_a_clear_error() -> None:
    with pytest.raises(BuildError, match=r"Python 3\.99 is not installed"):
        EnvironmentSpec.parse({"requirements": ["numpy==1.26.4"], "python": "3.99"}).interpreter()
