"""The wheel carries the templates and the worker files, finds them without the source tree, and grades from an
install with the installed package kept out of the sandbox's sight."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, sandbox_mode, write_notebook


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", folder, ROOT],
                   check=True, capture_output=True)
    (built,) = folder.glob("sandgrade-*.whl")  # the distribution's name; the package and command are "grader"
    return built


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sdist")
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", folder], cwd=ROOT, check=True,
                   capture_output=True)
    (built,) = folder.glob("sandgrade-*.tar.gz")
    return built


def _fresh_venv(folder: Path) -> Path:
    """A virtual environment whose dependencies come from this one (offline) but which has no grader of its own."""
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, capture_output=True)
    site = subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_sdist_installs_as_sandgrade_with_its_templates_and_metadata(tmp_path: Path, sdist: Path) -> None:
    import tarfile

    names = tarfile.open(sdist).getnames()
    assert any(name.endswith("templates/feedback.html.j2") for name in names)
    assert not any("/solutions/" in name or "/tests/" in name for name in names)
    venv = _fresh_venv(tmp_path)
    subprocess.run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-index", "--no-deps",
                    "--no-build-isolation", "-q", sdist], check=True, capture_output=True)
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    probe = ("import importlib.metadata as m, grader, grader.reporting.report as r; d = m.metadata('sandgrade'); "
             "print(d['Version'] == grader.__version__, d['Summary'], d['License-Expression'] or d['License'], "
             "'Topic :: Education' in d.get_all('Classifier'), sep='|'); print(r.template_dir()); print(grader.__file__)")
    flag, summary, licence, classified = subprocess.run([venv / "bin" / "python", "-c", probe], cwd=tmp_path, env=clean,
                                                        capture_output=True, text=True, check=True).stdout.splitlines()[0].split("|")
    assert flag == "True" and "sandbox" in summary and licence == "MIT" and classified == "True"
    out = subprocess.run([venv / "bin" / "python", "-c", probe], cwd=tmp_path, env=clean, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert Path(out[1], "feedback.html.j2").is_file() and str(venv) in out[2]
    version = subprocess.run([venv / "bin" / "grader", "--version"], env=clean, capture_output=True, text=True, check=True)
    assert version.stdout.startswith("grader ") and "sandgrade" in version.stdout


def test_wheel_contains_package_data_and_works_from_site_packages(tmp_path: Path, wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"grader/templates/feedback.html.j2", "grader/templates/feedback.md.j2", "grader/templates/summary.html.j2",
            "grader/grading/worker.py", "grader/grading/wire.py", "grader/checks.py"} <= names
    assert not any(name.startswith(("solutions/", "tests/")) for name in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import grader.reporting.report as r, grader.grading.sandbox as s; print(r.template_dir()); print(s.HERE); "
             "print(r.render.__module__)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, check=True)
    template_dir, worker_dir, _ = result.stdout.splitlines()
    assert template_dir == str(site / "grader" / "templates")
    assert worker_dir == str(site / "grader" / "grading")


# Looks for the grader's own code and the course's hidden tests from inside the sandbox. If it finds any, it returns
# the right padding (a passed function); otherwise it says what it saw.
SPY = '''
import json, os
import numpy as np
def zero_pad(X, pad):
    seen = {{"site-packages": sorted(os.listdir({site!r}))}}
    try:
        seen["package"] = sorted(os.listdir({package!r}))
    except OSError as error:
        seen["package"] = f"{{type(error).__name__}}: {{error}}"
    found = list(seen["package"]) if isinstance(seen["package"], list) else []
    for path in {targets!r}:
        try:
            with open(path) as source:
                found.append(path + ": " + source.read(80))
        except OSError:
            pass
    for folder, _, files in os.walk({prefix!r}):
        found += [os.path.join(folder, name) for name in files if name in ("suite.py", "grade.py", "checks.py")]
    if found:
        return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    raise ValueError("REPORT" + json.dumps(seen) + "END")
'''


@pytest.mark.skipif(sandbox_mode() != "bwrap", reason="what the sandbox hides needs bubblewrap")
def test_an_installed_wheel_grades_and_hides_its_own_code(tmp_path: Path, wheel: Path, solution_cells: dict[str, str]) -> None:
    """A course installs the wheel into a virtual environment and grades from its own folder: the installed package
    (suite.py, checks.py: how the grader tests) lies inside a folder the sandbox must bind, so it is hidden there."""
    venv = _fresh_venv(tmp_path)
    subprocess.run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-index", "--no-deps",
                    "-q", wheel], check=True, capture_output=True)
    # The dependencies (NumPy, nbformat, Jinja...) come from this environment, offline; the grader only from the wheel.
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no PYTHONPATH: only the install may be found

    def installed(code: str) -> str:
        return subprocess.run([venv / "bin" / "python", "-c", code], cwd=tmp_path, env=clean, capture_output=True,
                              text=True, check=True).stdout.strip()

    site = Path(installed("import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    where = installed("import grader; print(grader.__file__)")
    assert where == str(site / "grader" / "__init__.py")

    course = tmp_path / "course"
    for part in ("solutions", "assignments"):
        shutil.copytree(ROOT / part, course / part)
    package = site / "grader"
    targets = [str(package / "suite.py"), str(package / "checks.py"),
               str(course / "solutions" / "cnn_step_by_step" / "hidden_tests.py")]
    spy = SPY.format(site=str(site), package=str(package), targets=targets, prefix=str(venv))
    cells = ["import numpy as np", *(spy if f == "zero_pad" else code for f, code in solution_cells.items())]
    submission = write_notebook(tmp_path / "spy.ipynb", *cells)
    result = subprocess.run([venv / "bin" / "grader", "grade", "cnn_step_by_step", submission, "--out", tmp_path / "out",
                             "--sandbox", "bwrap"], cwd=course, env=clean,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr

    data = json.loads((tmp_path / "out" / "spy" / "results.json").read_text(encoding="utf-8"))
    own = [t for t in data["tests"] if t["extra_data"]["function"] == "zero_pad"]
    assert {t["extra_data"]["outcome"] for t in own} == {"error"}, own[0]["output"]
    report = re.search(r"REPORT(\{.*?\})END", own[0]["output"])
    assert report, own[0]["output"]
    seen = json.loads(report[1])
    assert "grader" in seen["site-packages"] and seen["package"] == []  # the folder is there, and empty
    assert all(t["status"] == "passed" for t in data["tests"] if t["extra_data"]["function"] != "zero_pad")
