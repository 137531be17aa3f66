"""Submissions into the course: a folder, a Canvas or Moodle download, or a GitHub Classroom folder → attempts.

Every notebook is copied into ``submissions/<assignment>/<student>/<sha256>.ipynb`` and recorded as an attempt; the same
notebook again is the same attempt. What cannot be taken (an unknown student, several notebooks for one student in one
download, files that are not notebooks, unreadable or unsafe archives and entries) is listed with why, never dropped
silently: the instructor fixes the roster or the download and collects again, which adds only what is new.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path, PurePosixPath

from grader.course.archives import MAX_ENTRY_BYTES, ArchiveError, Entry, kept_whole, read_zip
from grader.course.gradebook import Gradebook, now
from grader.course.records import Student
from grader.errors import UsageError

# Canvas "Download submissions": <name>[_LATE]_<user id>_<submission id>_<file name as uploaded>
CANVAS = re.compile(r"^(?P<name>[^/_]*?)(?P<late>_LATE)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<file>[^/]+)$")
# Moodle "Download all submissions": <Full Name>_<participant id>_assignsubmission_file_/<file> (in folders) or
# <Full Name>_<participant id>_assignsubmission_file_<file> (without)
MOODLE = re.compile(r"^(?P<name>[^/]+)_(?P<participant>\d+)_assignsubmission_file_?(?P<rest>.*)$", re.S)
SKIPPED_FOLDERS = frozenset({".git", ".ipynb_checkpoints", "__MACOSX", ".github"})
SHOWN = 5  # names listed per ignored group


@dataclass(frozen=True)
class Candidate:
    """A notebook (or other file) of a download with who it says it belongs to."""

    key: str  # how the source names the student
    by: str  # what the key is: id (file or folder name), lms_id (Canvas, Moodle)
    source: str
    data: bytes
    received_at: datetime
    received_from: str
    lms_late: bool = False


@dataclass
class Collected:
    """What one ``collect`` did: attempts added, duplicates of ones already taken, and everything refused."""

    added: list[tuple[str, str]] = field(default_factory=list)  # (student, source)
    known: list[tuple[str, str]] = field(default_factory=list)  # already collected, same content
    problems: list[tuple[str, str]] = field(default_factory=list)  # (source, why)


def _zone(deadline: datetime | None) -> tzinfo:
    return deadline.tzinfo if deadline is not None and deadline.tzinfo is not None else timezone.utc


def _read_file(path: Path, name: str, problems: list[tuple[str, str]]) -> Entry | None:
    """A regular file as an entry (its mtime as the received time); a link or a special file is refused unread."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            problems.append((str(path), "not a regular file (a link or a device): not followed"))
            return None
        if not kept_whole(name):  # only listed as not taken: never read
            return Entry(name, b"", datetime.fromtimestamp(info.st_mtime, timezone.utc))
        if info.st_size > MAX_ENTRY_BYTES:
            problems.append((str(path), f"larger than {MAX_ENTRY_BYTES // 1_000_000} MB"))
            return None
        with open(path, "rb") as handle:
            data = handle.read(MAX_ENTRY_BYTES + 1)
    except OSError as error:
        problems.append((str(path), f"cannot be read ({error.strerror})"))
        return None
    return Entry(name, data, datetime.fromtimestamp(info.st_mtime, timezone.utc))


def _read_folder(root: Path, problems: list[tuple[str, str]]) -> list[Entry]:
    """Regular files under ``root`` as entries named relative to it; links are listed, never followed."""
    entries = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        links = sorted(d for d in dirs if (Path(folder) / d).is_symlink())
        problems += [(str(Path(folder) / d), "a link to a folder: not followed") for d in links]
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_FOLDERS and d not in links)
        for name in sorted(files):
            path = Path(folder) / name
            entry = _read_file(path, path.relative_to(root).as_posix(), problems)
            if entry is not None:
                entries.append(entry)
    return entries


def candidates(source: Path, deadline: datetime | None, problems: list[tuple[str, str]]) -> list[Candidate]:
    """The files of one source with the student each names, in the source's own format."""
    if source.is_dir() and not source.is_symlink():
        entries = _read_folder(source, problems)
        return [c for e in entries if (c := _from_layout(e, str(source / e.name), "file mtime"))]
    if not source.is_file():
        raise UsageError(f"{source}: neither a folder, a notebook nor a zip file")
    if source.suffix.lower() == ".ipynb":  # one notebook named <student>.ipynb
        entry = _read_file(source, source.name, problems)
        return [_from_layout(entry, str(source), "file mtime")] if entry else []
    try:
        entries, refused = read_zip(source)
    except ArchiveError as error:  # its message starts with the archive's name, which the line already shows
        problems.append((str(source), str(error).removeprefix(f"{source}: ")))
        return []
    problems += [(r.name, r.why) for r in refused]
    zone = _zone(deadline)
    clock = f"zip entry time, read as {datetime.now(zone).strftime('%Z') or 'UTC'}"
    fmt = _format(entries)
    found = []
    for entry in entries:
        received = entry.modified.replace(tzinfo=zone) if entry.modified and entry.modified.tzinfo is None else entry.modified
        where = f"{source}:{entry.name}"
        candidate = (_canvas(entry, where, received, clock) if fmt == "canvas" else
                     _moodle(entry, where, received, clock) if fmt == "moodle" else
                     _from_layout(entry, where, clock, received))
        if candidate is None:
            problems.append((where, f"not named as a {fmt} download names submissions"))
        else:
            found.append(candidate)
    return found


def _format(entries: list[Entry]) -> str:
    tops = [PurePosixPath(e.name).parts[0] for e in entries]
    canvas = sum(bool(CANVAS.match(e.name)) for e in entries)
    moodle = sum(bool(MOODLE.match(top)) for top in tops)
    if canvas and canvas >= moodle:
        return "canvas"
    return "moodle" if moodle else "folder"


def _canvas(entry: Entry, where: str, received: datetime | None, clock: str) -> Candidate | None:
    top = entry.name.split("/", 1)[0]
    match = CANVAS.match(top)
    if not match:
        return None
    return Candidate(match["user"], "lms_id", where, entry.data, received or now(), clock if received else "collect time",
                     lms_late=bool(match["late"]))


def _moodle(entry: Entry, where: str, received: datetime | None, clock: str) -> Candidate | None:
    match = MOODLE.match(PurePosixPath(entry.name).parts[0])
    if not match:
        return None
    return Candidate(match["participant"], "lms_id", where, entry.data, received or now(),
                     clock if received else "collect time")


def _from_layout(entry: Entry, where: str, clock: str, received: datetime | None = None) -> Candidate:
    """``<student>.ipynb`` or ``<student>/<anything>``: the first part of the name is the student."""
    parts = PurePosixPath(entry.name).parts
    key = PurePosixPath(parts[0]).stem if len(parts) == 1 else parts[0]
    moment = received if received is not None else entry.modified
    return Candidate(key, "id", where, entry.data, moment or now(), clock if moment else "collect time")


def match_student(candidate: Candidate, roster: list[Student]) -> Student | None:
    """The roster's student a candidate names: by LMS id for LMS downloads; else by id or login, or a GitHub
    Classroom repository name ``<assignment prefix>-<login or id>``."""
    if candidate.by == "lms_id":
        return next((s for s in roster if s.lms_id and s.lms_id == candidate.key), None)
    exact = next((s for s in roster if candidate.key in (s.id, s.login)), None)
    if exact:
        return exact
    suffixed = [s for s in roster for name in (s.id, s.login) if name and candidate.key.endswith("-" + name)]
    return max(suffixed, key=lambda s: max(len(s.id), len(s.login))) if suffixed else None


def _write_once(path: Path, data: bytes) -> None:
    """Write the copy atomically; an existing copy has the same bytes (its name is their hash)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def collect(gradebook: Gradebook, course: Path, assignment: str, sources: list[Path],
            deadline: datetime | None = None, notebook_name: str = "") -> Collected:
    """Take the notebooks of ``sources`` into the course as attempts of ``assignment``."""
    result = Collected()
    roster = gradebook.students()
    if not roster:
        raise UsageError("the course has no roster yet: run `grader roster import FILE` first")
    for source in sources:
        if not os.path.lexists(source):
            raise UsageError(f"no such file or folder: {source}")
    by_student: dict[str, list[Candidate]] = defaultdict(list)
    others: dict[str, list[str]] = defaultdict(list)
    for source in sources:
        for candidate in candidates(source, deadline, result.problems):
            student = match_student(candidate, roster)
            if not candidate.source.lower().endswith(".ipynb"):
                others[student.id if student else candidate.key].append(candidate.source)
                continue
            if student is None:
                what = "LMS id" if candidate.by == "lms_id" else "name"
                result.problems.append((candidate.source, f"unknown student ({what} {candidate.key!r}): add them to "
                                                          "the roster (grader roster import) and collect again"))
                continue
            by_student[student.id].append(candidate)
    for key, files in sorted(others.items()):
        shown = ", ".join(files[:SHOWN]) + (f" and {len(files) - SHOWN} more" if len(files) > SHOWN else "")
        result.problems.append((shown, f"{len(files)} file(s) of {key!r} that are not notebooks (.ipynb): not taken"))
    for student_id, found in sorted(by_student.items()):
        distinct = {hashlib.sha256(c.data).hexdigest(): c for c in found}
        if len(distinct) > 1 and notebook_name:  # a repository holding other notebooks beside the assignment's
            named = {h: c for h, c in distinct.items() if PurePosixPath(c.source).name == notebook_name}
            if len(named) == 1:
                result.problems += [(c.source, f"another notebook of {student_id!r}, named {notebook_name}, was taken "
                                               "instead") for h, c in distinct.items() if h not in named]
                distinct = named
        if len(distinct) > 1:
            names = ", ".join(c.source for c in distinct.values())
            result.problems.append((names, f"{len(distinct)} different notebooks for {student_id!r} in one collection: "
                                           f"none taken; save the one to grade as {student_id}.ipynb and collect "
                                           f"that file (grader collect {assignment} {student_id}.ipynb; it is "
                                           "received at the file's time)"))
            continue
        ((sha, candidate),) = distinct.items()
        stored = course / "submissions" / assignment / student_id / f"{sha}.ipynb"
        _write_once(stored, candidate.data)
        _, new = gradebook.add_attempt(assignment, student_id, sha, candidate.source, stored, candidate.received_at,
                                       candidate.received_from, candidate.lms_late)
        (result.added if new else result.known).append((student_id, candidate.source))
    return result
