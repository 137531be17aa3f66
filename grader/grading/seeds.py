"""The seed of a submission's hidden cases: HMAC of the course key and of what the submission runs.

A student who records the hidden inputs (and, through some oracle, their answers) in one submission
must not be able to replay them in the next: any change to the code that reaches the sandbox gives
new random inputs, while the same notebook always meets the same ones (so a regrade gives the same
score). Without the key, nobody can compute the inputs a notebook will meet.

The key is a file beside the assignments' instructor folders (``solutions/course.key``), never
released. Grading refuses to run without it rather than make one up: a key created on the fly (on a
CI runner, say) would give the same notebook other cases, and perhaps another score, on the next run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from grader.config import Assignment
from grader.errors import UsageError
from grader.model import Submission

KEY_FILE = "course.key"
MIN_KEY_CHARS = 32


def key_path(assignment: Assignment) -> Path:
    """``solutions/course.key``: one key for every assignment of the course, beside their folders."""
    return assignment.source_dir.parent / KEY_FILE


def course_key(assignment: Assignment) -> bytes:
    """The course's secret key, or a UsageError that says how to make one."""
    path = key_path(assignment)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise UsageError(f"no course key at {path}: the hidden tests of {assignment.name} take a seed derived from "
                         "it. Create one once and keep it (it must stay the same for every grading run):\n"
                         f"  python -c \"import secrets; print(secrets.token_hex(32))\" > {path}") from None
    if len(text) < MIN_KEY_CHARS:
        raise UsageError(f"the course key {path} is too short: use at least {MIN_KEY_CHARS} random characters")
    return text.encode()


def content_hash(submission: Submission) -> str:
    """sha256 of the chunks the sandbox loads, in order: what the submission can actually run."""
    digest = hashlib.sha256()
    for chunk in submission.chunks:
        record = json.dumps([chunk.cell, chunk.line, chunk.code]).encode()
        digest.update(len(record).to_bytes(8, "big") + record)
    return digest.hexdigest()


def derive_seed(key: bytes, assignment: Assignment, label: str) -> int:
    """A 64-bit seed from the key, the assignment (name and version) and a label such as a content hash."""
    message = "\0".join((assignment.name, assignment.version, label)).encode()
    return int.from_bytes(hmac.new(key, message, hashlib.sha256).digest()[:8], "big")


def submission_seed(key: bytes, assignment: Assignment, submission: Submission) -> int:
    return derive_seed(key, assignment, content_hash(submission))


def audit_seeds(key: bytes, assignment: Assignment, count: int) -> list[int]:
    """The seeds every mutant is graded under: fixed per course, and the same for all mutants, so a
    survivor means the tests miss it on inputs a real submission could get, not that its own code
    happened to draw easy ones. The labels cannot collide with a content hash (hex)."""
    return [derive_seed(key, assignment, f"audit #{index}") for index in range(count)]
