"""An assignment → Gradescope's ``autograder.zip``, and what runs inside Gradescope's container.

Gradescope's autograder specification (gradescope-autograders.readthedocs.io, "Autograder Specifications"): the zip
holds ``setup.sh`` (run once, as root, when Gradescope builds the image; Ubuntu, network allowed) and
``run_autograder`` (run for every submission, working directory ``/autograder``) at its root; Gradescope unpacks it
into ``/autograder/source``, puts the student's files in ``/autograder/submission`` and reads the score from
``/autograder/results/results.json``, whose format our ``results.json`` already follows.

The zip carries this grader's own code (``lib/grader``, templates included) and the instructor's folder of the
assignment with the course key (``course/solutions/``): they stay in ``/autograder/source``, never in the
submission folder. ``setup.sh`` installs Python, libseccomp and, if the image allows it, bubblewrap, then the
grader's dependencies in ``/autograder/venv``, builds a pinned ``[environment]`` and checks the reference once.

Inside Gradescope the container is the sandbox. bubblewrap needs user namespaces, which Docker's default seccomp
profile refuses, so student code there usually runs as an ordinary process with the grader's resource limits and
its seccomp filter, as the same user as the grader: it could read the files in ``/autograder/source``, hidden tests
and reference solutions included, unless the grader runs as root (Gradescope's default): then ``setup`` makes the
bundled course root's alone and, if a trial worker runs as ``nobody``, every run starts student code as ``nobody``
(GRADER_WORKER_USER), which can neither read the bundle's secrets nor write the grader's files or results.
results.json says which sandbox ran (``extra_data.sandbox``); set
``GRADER_GS_SANDBOX=bwrap`` in ``setup.sh``'s image (or the environment) to refuse grading without bubblewrap.

Every path is overridable so a test can run ``run_autograder`` in a temporary folder laid out the same way:
``GRADER_GS_ROOT`` (default ``/autograder``), ``GRADER_GS_PYTHON`` (default ``$ROOT/venv/bin/python``),
``GRADER_GS_SANDBOX`` (``auto``, ``bwrap`` or ``none``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grader
from grader.config import NOT_COURSE_FILES, Assignment, files_below, load_assignment
from grader.errors import GraderError, UsageError
from grader.grading.seeds import KEY_FILE, course_key, key_path
from grader.reporting.report import results_json, template_dir, write_atomic
from grader.text import clean_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DISTRIBUTION = "sandgrade"
BUNDLE_FILE = "bundle.json"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the same assignment gives the same zip
SEARCH_DEPTH = 3  # folders below /autograder/submission searched for the notebook
SEARCH_ENTRIES = 2000  # entries looked at, at most: a submission of a million files cannot stall the search
SANDBOX_NOTES = {
    "bwrap": "Student code ran inside bubblewrap (no network, no view of the autograder's files), within "
             "Gradescope's container.",
    "none": "bubblewrap could not run in this container, so Gradescope's container was the only sandbox: student "
            "code ran as an ordinary process, under the grader's resource limits and seccomp filter, as the same "
            "user as the grader, so it could have read the files in /autograder/source (hidden tests and reference "
            "solutions included). The score was still computed by the grader, outside student code.",
    "user": "bubblewrap could not run in this container: student code ran as an ordinary process, under the "
            "grader's resource limits and seccomp filter, as the unprivileged user {user}, who can neither read the "
            "bundled hidden tests, reference solutions and course key nor write the grader's files or results; it "
            "could still read the container's other world-readable files.",
}
WORKER_USER = "nobody"  # the user student code runs as when bubblewrap cannot, if setup found that it works
WORKER_USER_FILE = "worker_user"  # in source/: written by setup when the switch was tried and works


# --- building the zip (on the instructor's machine) -----------------------------------------------------------------

def requirements() -> list[str]:
    """The grader's runtime dependencies (extras left out): ranges, not pins, so pip picks versions that suit the
    Python of Gradescope's image. From pyproject.toml in a source checkout (an editable install's metadata lags
    behind it until the next pip install), else from the installed package's metadata."""
    pyproject = Path(grader.__file__).resolve().parent.parent / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") == DISTRIBUTION:
            return [str(line) for line in project.get("dependencies", [])]
    try:
        declared = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError as error:
        raise UsageError(f"the grader is not installed as {DISTRIBUTION!r} (pip install -e . or the wheel), so its "
                         "dependencies for Gradescope are unknown") from error
    return [line for line in declared if "extra ==" not in line.replace('"', "'").replace("extra==", "extra ==")]


def _entries(assignment: Assignment) -> Iterator[tuple[str, bytes, int]]:
    """(name in the zip, bytes, mode) of everything the autograder needs."""
    scripts = template_dir() / "gradescope"
    for name in ("setup.sh", "run_autograder"):
        yield name, (scripts / name).read_bytes(), 0o755
    yield "requirements.txt", "".join(f"{line}\n" for line in requirements()).encode(), 0o644
    bundle = {"assignment": assignment.name, "version": assignment.version, "grader": grader.__version__}
    yield BUNDLE_FILE, (json.dumps(bundle, indent=2) + "\n").encode(), 0o644
    package = Path(grader.__file__).resolve().parent
    for path in files_below(package):
        if path.suffix in (".py", ".typed") and "templates" not in path.relative_to(package).parts:
            yield f"lib/grader/{path.relative_to(package).as_posix()}", path.read_bytes(), 0o644
    for path in files_below(template_dir()):
        yield f"lib/grader/templates/{path.relative_to(template_dir()).as_posix()}", path.read_bytes(), 0o644
    for path in files_below(assignment.source_dir):
        yield f"course/solutions/{assignment.name}/{path.relative_to(assignment.source_dir).as_posix()}", path.read_bytes(), 0o644
    yield f"course/solutions/{KEY_FILE}", key_path(assignment).read_bytes(), 0o600


def build_autograder(assignment: Assignment, dest_zip: Path) -> Path:
    """Write Gradescope's ``autograder.zip`` for ``assignment`` (an instructor's ``solutions/NAME``) to ``dest_zip``
    (a folder, or a path not ending in .zip, gets ``autograder.zip`` inside it); returns the zip's path.

    The zip holds the hidden tests, the reference solutions and the course key: upload it to Gradescope only."""
    if dest_zip.is_dir() or dest_zip.suffix.lower() != ".zip":
        dest_zip = dest_zip / "autograder.zip"
    if not assignment.instructor:
        raise UsageError(f"{assignment.source_dir} is a student release: the autograder needs the instructor's solutions/ folder")
    course_key(assignment)  # a missing or short key is refused here, not in every student's run
    dest_zip.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=dest_zip.parent, prefix=f".{dest_zip.name}.")
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data, mode in _entries(assignment):
                info = zipfile.ZipInfo(name, ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (0o100000 | mode) << 16  # a regular file with its permissions (unzip keeps them)
                archive.writestr(info, data)
        os.replace(temporary, dest_zip)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return dest_zip


# --- inside Gradescope's container ----------------------------------------------------------------------------------

def _bundled_assignment(root: Path) -> Assignment:
    bundle = json.loads((root / "source" / BUNDLE_FILE).read_text(encoding="utf-8"))
    return load_assignment(root / "source" / "course" / "solutions" / bundle["assignment"])


def _candidates(submission: Path) -> list[Path]:
    """Notebooks in the submission folder, by depth then name, without following links into other folders.
    A link named *.ipynb is kept: grading refuses it as "not a regular file" and says so."""
    found: list[Path] = []
    seen = 0
    level = [submission]
    for _ in range(SEARCH_DEPTH + 1):
        below: list[Path] = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > SEARCH_ENTRIES:
                    return found
                if entry.name.startswith(("._", ".")) or entry.name in NOT_COURSE_FILES or entry.name == "__MACOSX":
                    continue
                if entry.is_dir(follow_symlinks=False):
                    below.append(Path(entry.path))
                elif entry.name.lower().endswith(".ipynb"):
                    found.append(Path(entry.path))
        level = below
    return found


def find_notebook(submission: Path, expected: str) -> tuple[Path | None, str]:
    """The notebook to grade and "", or None and why: the one named like the assignment's notebook (the shallowest),
    else the only notebook there is."""
    found = _candidates(submission)
    named = [p for p in found if p.name == expected]
    if named:
        return named[0], ""
    if len(found) == 1:
        return found[0], ""
    if not found:
        return None, f"no notebook was found in your submission: upload {expected}"
    shown = ", ".join(clean_line(str(p.relative_to(submission)), 80) for p in found[:10])
    return None, f"your submission has {len(found)} notebooks ({shown}) and none is named {expected}: upload only that one"


def _mode(requested: str) -> str:
    from grader.grading.sandbox import resolve_mode

    return resolve_mode(requested)


def _worker_user(root: Path, mode: str) -> str:
    """The user student code runs as without bubblewrap: the one setup tried, when the grader is root."""
    marker = root / "source" / WORKER_USER_FILE
    if mode != "none" or os.geteuid() != 0 or not marker.is_file():
        return ""
    return marker.read_text(encoding="utf-8").strip()


def _switch_user(root: Path, assignment: Assignment) -> bool:
    """Without bubblewrap, as root: make the bundled course root's alone and try a worker as WORKER_USER on a
    trivial submission. Only a switch seen working is used, so a grading never fails for want of it."""
    from grader.grading.sandbox import Worker
    from grader.model import Chunk, Submission

    (root / "source" / "course").chmod(0o700)
    saved = os.environ.get("GRADER_WORKER_USER")
    os.environ["GRADER_WORKER_USER"] = WORKER_USER
    worker = Worker("none", assignment.limits)
    try:
        code = "import os\n\ndef whoami():\n    return os.getuid()\n"
        worker.load(Submission("probe.ipynb", (Chunk(1, 1, "def", ("whoami",), code),)), ["whoami"])
        works = worker.call("whoami", (), {}).value not in (None, 0)
    except Exception as error:  # any failure: grade as the grader's own user, as the results will say
        print(f"student code cannot run as {WORKER_USER} here ({type(error).__name__}: {error})", file=sys.stderr)
        works = False
    finally:
        worker.close()
        if saved is None:
            del os.environ["GRADER_WORKER_USER"]
        else:
            os.environ["GRADER_WORKER_USER"] = saved
    marker = root / "source" / WORKER_USER_FILE
    if works:
        marker.write_text(WORKER_USER + "\n", encoding="utf-8")
    else:
        marker.unlink(missing_ok=True)
    return works


def grade_submission_folder(root: Path, sandbox: str = "auto") -> dict[str, Any]:
    """Grade the notebook in ``root/submission`` with the bundled assignment: Gradescope's results as a dict."""
    from grader.grading.grade import not_graded
    from grader.grading.suite import load_suite
    from grader.reporting.report import gradescope_results
    from grader.running.batch import grade_paths

    assignment = _bundled_assignment(root)
    mode = _mode(sandbox)
    user = _worker_user(root, mode)
    if user:
        os.environ["GRADER_WORKER_USER"] = user
    notebook, problem = find_notebook(root / "submission", assignment.notebook)
    if notebook is None:
        report = not_graded(root / "submission", assignment, load_suite(assignment), problem, time.perf_counter())
    else:
        (report,) = grade_paths(assignment, [notebook], mode)
    results = gradescope_results(report)
    note = SANDBOX_NOTES["user"].format(user=user) if user else SANDBOX_NOTES[mode]
    results["extra_data"]["sandbox"] = {"mode": mode, "note": note, "uid": os.getuid(), "worker_user": user}
    if notebook is None:
        results["output"] = clean_line(problem, 500) + "\n" + results["output"]
    return results


def run(root: Path, sandbox: str = "auto") -> int:
    """``run_autograder``: write ``results/results.json``. A failure of the grader itself (a broken bundle, a
    reference that fails its own checks) writes none, so Gradescope shows the run as failed instead of a score."""
    try:
        results = grade_submission_folder(root, sandbox)
    except GraderError as error:
        print(f"the autograder could not grade: {error}", file=sys.stderr)
        return 1
    write_atomic(root / "results" / "results.json", results_json(results))
    sandbox_info = results["extra_data"]["sandbox"]
    print(f"grader {grader.__version__} from {Path(grader.__file__).resolve().parent}; sandbox {sandbox_info['mode']}: "
          f"{sandbox_info['note']}")
    print(f"score {results['score']} ({clean_line(str(results['extra_data'].get('submission', '')), 200)})")
    return 0


def setup(root: Path, sandbox: str = "auto") -> int:
    """``setup.sh``'s last step, when Gradescope builds the image: build a pinned environment and check the reference
    once (both cached in the image), and say which sandbox the runs will get."""
    from grader.authoring.reference_check import verify_reference
    from grader.running.environments import prepare

    assignment = _bundled_assignment(root)
    course_key(assignment)
    prepare(assignment.environment)
    verify_reference(assignment)
    mode = _mode(sandbox)
    note = SANDBOX_NOTES[mode]
    if mode == "none" and os.geteuid() == 0 and _switch_user(root, assignment):
        note = SANDBOX_NOTES["user"].format(user=WORKER_USER)
    print(f"{assignment.name} {assignment.version} ready; sandbox {mode}: {note}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.course.gradescope", description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("run", "setup"))
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("GRADER_GS_ROOT", "/autograder")))
    parser.add_argument("--sandbox", default=os.environ.get("GRADER_GS_SANDBOX", "auto"), choices=("auto", "bwrap", "none"))
    args = parser.parse_args(argv)
    try:
        return run(args.root, args.sandbox) if args.step == "run" else setup(args.root, args.sandbox)
    except GraderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
