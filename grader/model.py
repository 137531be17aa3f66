"""Plain data passed between the stages: Submission → CheckResult → GradeReport (with a JSON round trip)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: The MIME type of ``CheckResult.image`` (base64): how a page or notebook must embed it.
IMAGE_MIME = "image/svg+xml"


@dataclass(frozen=True)
class Chunk:
    """One top-level statement of a notebook cell worth loading (import, definition, constant)."""

    cell: int
    line: int
    kind: str  # import | def | assign
    names: tuple[str, ...]
    code: str  # padded with blank lines so line numbers match the cell
    modules: tuple[str, ...] = ()  # top-level modules an import chunk imports


@dataclass(frozen=True)
class Submission:
    path: str
    chunks: tuple[Chunk, ...]
    notes: tuple[str, ...] = ()
    unparsed: tuple[tuple[str, str], ...] = ()  # (function, why) for defs in cells that could not be parsed
    skipped: tuple[tuple[int, str], ...] = ()  # (cell, why) for each cell that could not be read
    unparsed_cells: tuple[tuple[str, int], ...] = ()  # (function, cell) for those defs: where the feedback notes go

    @property
    def defined(self) -> frozenset[str]:
        return frozenset(name for chunk in self.chunks if chunk.kind == "def" for name in chunk.names)


@dataclass(frozen=True)
class CheckResult:
    function: str
    name: str
    kind: str  # public | hidden
    outcome: str  # passed (the only one that earns points) | wrong | error | timeout | memory | crash | missing
    message: str = ""
    failure: str = ""  # for "wrong": structure, type, shape, values or modified
    params: str = ""
    output: str = ""  # what the student's code printed (capped)
    called: str = ""  # the failing public check's last call, with argument shapes
    image: str = ""  # base64 SVG (IMAGE_MIME) of expected, got and difference (failed public array checks only)
    image_alt: str = ""  # what the picture shows, in words
    duration: float = 0.0

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass(frozen=True)
class FunctionScore:
    name: str
    points: float
    optional: bool
    score: float
    checks: int
    passed_checks: int

    @property
    def passed(self) -> bool:
        return self.checks > 0 and self.passed_checks == self.checks


@dataclass(frozen=True)
class MistakeMatch:
    """A known mistake from the assignment's catalogue that explains a failed check."""

    function: str
    id: str
    title: str
    hint: str
    check: str  # the first failed check it explains


@dataclass(frozen=True)
class Places:
    """Where a submission's feedback goes, by 1-based cell number of the notebook as submitted."""

    graded: dict[str, int] = field(default_factory=dict)  # function → the cell whose (last) definition was graded
    unreadable: dict[str, int] = field(default_factory=dict)  # function → a skipped cell defining it
    skipped: dict[int, str] = field(default_factory=dict)  # cell → why it could not be read
    problem: str = ""  # set when extraction refused the whole notebook

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Places:
        return cls(dict(data["graded"]), dict(data["unreadable"]), {int(cell): why for cell, why in data["skipped"].items()},
                   data["problem"])


def places_of(found: Any) -> Places:
    """The places an extraction gives (a Submission, or extract.Extraction: their chunks, unparsed cells and skipped
    cells): the last definition of each name wins."""
    graded = {name: chunk.cell for chunk in found.chunks if chunk.kind == "def" for name in chunk.names}
    return Places(graded, dict(found.unparsed_cells), dict(found.skipped))


@dataclass(frozen=True)
class GradeReport:
    assignment: str
    title: str
    submission: str
    score: float
    max_score: float
    functions: tuple[FunctionScore, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    notes: tuple[str, ...] = ()
    mistakes: tuple[MistakeMatch, ...] = ()
    error: str = ""  # set when the notebook could not be graded at all
    execution_time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    scoring: str = ""  # how optional functions count (config.OPTIONAL_POLICIES); "" in reports from before it existed
    edited: tuple[str, ...] = ()  # graded functions whose code is not the release's template: never "not started"
    #: where the annotated notebook's feedback goes, from the grading's own extraction (None: not known, e.g. a report
    #: from before it was kept): the views' writer need not parse every cell again (~25 ms of CPU a notebook)
    places: Places | None = None

    @property
    def grader_errors(self) -> int:
        """Checks that failed because of the grader, a test or the reference, not the student."""
        return sum(c.outcome == "grader-error" for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradeReport:
        return cls(
            **{
                **data,
                "functions": tuple(FunctionScore(**f) for f in data["functions"]),
                "checks": tuple(CheckResult(**c) for c in data["checks"]),
                "notes": tuple(data["notes"]),
                "edited": tuple(data.get("edited", ())),
                "mistakes": tuple(MistakeMatch(**m) for m in data.get("mistakes", ())),
                "places": Places.from_dict(data["places"]) if data.get("places") else None,
            }
        )
