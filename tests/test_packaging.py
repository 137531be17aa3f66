"""The wheel carries the templates and the worker files, and finds them without the source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_contains_package_data_and_works_from_site_packages(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path, ROOT],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("grader-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"grader/templates/feedback.html.j2", "grader/templates/feedback.md.j2", "grader/templates/summary.html.j2",
            "grader/worker.py", "grader/wire.py", "grader/checks.py"} <= names
    assert not any(name.startswith(("solutions/", "tests/")) for name in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import grader.report as r, grader.sandbox as s; print(r.template_dir()); print(s.HERE); "
             "print(r.render.__module__)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, check=True)
    template_dir, worker_dir, _ = result.stdout.splitlines()
    assert template_dir == str(site / "grader" / "templates")
    assert worker_dir == str(site / "grader")
