"""Pinned environments student code runs with: an assignment's ``[environment]`` → a cached virtual environment.

An assignment written for NumPy 1 is graded as it ran for its students: its ``[environment]`` table pins the
packages (``numpy==1.26.4``), and the sandboxed worker runs that environment's interpreter instead of the
grader's. Only plain data crosses (JSON and ``.npy``), which no NumPy version changes, so the trusted side keeps
the grader's own NumPy. Each environment is built once with venv and pip, under the user's cache folder, in a
folder named by a hash of its specification; two builds at once meet at a lock file, and a build happens in a
temporary folder renamed into place only when it is complete.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import GraderError, UsageError

#: A pinned requirement: a name (with extras, maybe) and an exact version.
PINNED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]*\])?==[A-Za-z0-9.+!_*-]+")
PYTHON_VERSION = re.compile(r"3\.\d{1,2}")
KERNEL_REQUIREMENT = "ipykernel"  # what `grader validate` adds to run the notebooks in the environment
DESCRIPTION = "environment.json"  # written last, inside the temporary folder: a folder with it is complete
BUILD_SECONDS = 900
FORMAT = 1  # changes every environment's key when the way they are built changes

_DESCRIBE = """
import importlib.metadata as m, json, site, sys, sysconfig
paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
base_site = {paths["purelib"], paths["platlib"], *site.getsitepackages([sys.base_prefix])}
print(json.dumps({"python": sys.version.split()[0], "base_prefix": sys.base_prefix, "base_site": sorted(base_site),
                  "packages": sorted({(d.metadata["Name"], d.version) for d in m.distributions() if d.metadata["Name"]})}))
"""


class BuildError(GraderError):
    """An environment could not be built (a requirement pip cannot install, a missing Python)."""


@dataclass(frozen=True)
class EnvironmentSpec:
    """What an environment holds: pinned requirements and, optionally, a Python version installed here."""

    requirements: tuple[str, ...]
    python: str = ""  # "3.11": a python3.11 on PATH; "": the interpreter the grader itself runs on

    @classmethod
    def parse(cls, table: Any, where: str = "[environment]") -> EnvironmentSpec:
        """From assignment.toml's ``[environment]`` table; every problem is a UsageError naming it."""
        if not isinstance(table, dict) or set(table) - {"requirements", "python"}:
            raise UsageError(f"{where} takes requirements = [...] and optionally python = \"3.X\"")
        requirements = table.get("requirements", [])
        python = table.get("python", "")
        if not isinstance(requirements, list) or not all(isinstance(r, str) for r in requirements):
            raise UsageError(f"{where}: requirements must be a list of strings such as \"numpy==1.26.4\"")
        loose = [r for r in requirements if not PINNED.fullmatch(r.strip())]
        if loose:
            raise UsageError(f"{where}: pin every requirement to one version (name==version): {', '.join(loose)}")
        if not any(_name(r) == "numpy" for r in requirements):
            raise UsageError(f"{where}: the requirements must pin numpy (the sandboxed worker imports it)")
        if not isinstance(python, str) or (python and not PYTHON_VERSION.fullmatch(python)):
            raise UsageError(f"{where}: python must be a version such as \"3.11\"")
        return cls(tuple(sorted(r.strip() for r in requirements)), python)

    @classmethod
    def from_text(cls, text: str) -> EnvironmentSpec:
        """``"numpy==2.2.6 scipy==1.15.3"`` or ``"numpy==1.26.4, python=3.11"`` (the command line's form)."""
        words = [w for w in re.split(r"[\s,]+", text) if w]
        python = [w.split("=", 1)[1] for w in words if w.startswith("python=")]
        return cls.parse({"requirements": [w for w in words if not w.startswith("python=")],
                          **({"python": python[-1]} if python else {})}, where=repr(text))

    def with_kernel(self) -> EnvironmentSpec:
        """The same packages plus a Jupyter kernel (for ``grader validate``)."""
        if any(_name(r) == KERNEL_REQUIREMENT for r in self.requirements):
            return self
        return EnvironmentSpec((*self.requirements, KERNEL_REQUIREMENT), self.python)

    def interpreter(self) -> str:
        """The Python the environment is created from; a BuildError if the asked version is not installed."""
        if not self.python:
            return str(Path(getattr(sys, "_base_executable", sys.executable)))
        found = shutil.which(f"python{self.python}")
        if found is None:
            raise BuildError(f"Python {self.python} is not installed on this machine (no python{self.python} on PATH): "
                             "install it, or drop python from [environment] to use the grader's own "
                             f"({sys.version_info.major}.{sys.version_info.minor})")
        return found

    @property
    def key(self) -> str:
        """The environment's folder name: a hash of everything that decides what it holds."""
        python = self.python or f"{sys.version_info.major}.{sys.version_info.minor}"
        base = "" if self.python else str(Path(getattr(sys, "_base_executable", sys.executable)).resolve())
        import hashlib  # here: config.py imports this module, and every command imports config.py

        text = json.dumps({"format": FORMAT, "requirements": self.requirements, "python": python, "base": base})
        return f"py{python}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    def __str__(self) -> str:
        return " ".join(self.requirements) + (f" (Python {self.python})" if self.python else "")


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>!~ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


@dataclass(frozen=True)
class Environment:
    """A built environment: its folder and what it holds."""

    path: Path
    spec: EnvironmentSpec
    python_version: str
    base_prefix: str
    base_site: tuple[str, ...]
    packages: tuple[tuple[str, str], ...]

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    @property
    def roots(self) -> tuple[str, ...]:
        """The folders the sandbox binds read-only to run this interpreter: the environment and its base Python."""
        roots = sorted({str(self.path), self.base_prefix} - {""})
        roots = [r for r in roots if not r.startswith("/usr/")]
        return tuple(r for r in roots if not any(r != o and r.startswith(o + "/") for o in roots))

    @property
    def masked(self) -> tuple[str, ...]:
        """The base Python's own site-packages, hidden in the sandbox: only the environment's packages are seen."""
        return tuple(p for p in self.base_site if os.path.isdir(p) and not p.startswith(str(self.path) + "/"))

    def describe(self) -> dict[str, Any]:
        """What results.json records: the requirements, the Python version and every installed package."""
        return {"requirements": list(self.spec.requirements), "python": self.python_version,
                "packages": dict(self.packages), "key": self.path.name}


def cache_root() -> Path:
    """Where environments live: ``$XDG_CACHE_HOME/grader/environments`` (``~/.cache`` by default)."""
    from grader.config import user_cache  # config.py imports this module

    return user_cache("environments")


def _read(folder: Path) -> Environment | None:
    try:
        data = json.loads((folder / DESCRIPTION).read_text(encoding="utf-8"))
        spec = EnvironmentSpec(tuple(data["spec"]["requirements"]), data["spec"]["python"])
        return Environment(folder, spec, data["python"], data["base_prefix"], tuple(data["base_site"]),
                           tuple((str(n), str(v)) for n, v in data["packages"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find(spec: EnvironmentSpec, cache: Path | None = None) -> Environment | None:
    """The built environment of ``spec``, or None."""
    return _read((cache or cache_root()) / spec.key)


def build(spec: EnvironmentSpec, cache: Path | None = None, log: Callable[[str], None] | None = None) -> Environment:
    """The environment of ``spec``, built first if it is not in the cache. Safe against builds at the same time
    (in other processes too): one builds while the others wait on its lock file, then all use its result."""
    root = cache or cache_root()
    found = _read(root / spec.key)
    if found:
        return found
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{spec.key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _read(root / spec.key)
        if found:
            return found
        if log:
            log(f"building the environment {spec} in {root / spec.key} (once; later runs reuse it)")
        started = time.monotonic()
        temporary = Path(tempfile.mkdtemp(prefix=f".build-{spec.key}-", dir=root))
        try:
            _create(spec, temporary)
            if (root / spec.key).exists():  # incomplete (it has no description): left by hand, never by a build
                shutil.rmtree(root / spec.key)
            os.rename(temporary, root / spec.key)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
        if log:
            log(f"built the environment {spec} in {time.monotonic() - started:.0f} s")
    built = _read(root / spec.key)
    assert built is not None
    return built


def _run(command: list[str], what: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_SECONDS, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BuildError(f"{what} failed: {error}") from error
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-5:]
        raise BuildError(f"{what} failed:\n  " + "\n  ".join(errors[:8]))
    return done.stdout


def _create(spec: EnvironmentSpec, folder: Path) -> None:
    """venv + pip into ``folder``, then its description, written last."""
    _run([spec.interpreter(), "-m", "venv", str(folder)], f"creating a virtual environment with {spec.interpreter()}")
    python = str(folder / "bin" / "python")
    _run([python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check", *spec.requirements],
         f"installing {' '.join(spec.requirements)} (fix [environment] in assignment.toml)")
    described = json.loads(_run([python, "-I", "-c", _DESCRIBE], "reading the new environment"))
    described["spec"] = {"requirements": list(spec.requirements), "python": spec.python}
    (folder / DESCRIPTION).write_text(json.dumps(described, indent=1) + "\n", encoding="utf-8")


def installed(cache: Path | None = None) -> Iterator[Environment]:
    """Every built environment in the cache, by folder name."""
    root = cache or cache_root()
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        found = _read(folder) if not folder.name.startswith(".") else None
        if found:
            yield found


def prune(keep: set[str], cache: Path | None = None) -> list[Path]:
    """Remove every environment whose key is not in ``keep`` and what failed builds left; returns what went.
    Each is removed under its lock, so a build under way is never cut short."""
    root = cache or cache_root()
    removed: list[Path] = []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        if folder.suffix == ".lock" or folder.name in keep:
            continue
        key = folder.name.removeprefix(".build-").rsplit("-", 1)[0] if folder.name.startswith(".build-") else folder.name
        with open(root / f"{key}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being built now
            shutil.rmtree(folder, ignore_errors=True)  # its lock file stays: a waiting build may hold it open
        removed.append(folder)
    return removed


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(spec: EnvironmentSpec | None, build_missing: bool = True) -> Environment | None:
    """The environment commands grade in: None for the grader's own; built on first use (saying so on stderr),
    or, with ``build_missing`` false, a UsageError that says how to build it."""
    if spec is None:
        return None
    found = find(spec)
    if found:
        return found
    if not build_missing:
        raise UsageError(f"the environment {spec} is not built yet: run `grader env build ASSIGNMENT` first")
    return build(spec, log=_stderr)


def describe(environment: Environment | None) -> dict[str, Any]:
    """The environment a submission was graded in, for results.json: the grader's own when ``environment`` is None."""
    if environment is not None:
        return environment.describe()
    import platform

    import numpy

    return {"requirements": [], "python": platform.python_version(), "packages": {"numpy": numpy.__version__},
            "key": "grader"}
