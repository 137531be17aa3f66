"""The few errors the toolkit raises on purpose; the CLI turns each into a message and an exit code."""


class GraderError(Exception):
    """Base class: something the user can fix, with a message that says what."""


class UsageError(GraderError):
    """Bad arguments or a missing assignment (exit code 2)."""


class MarkerError(GraderError):
    """Unbalanced or nested solution markers in the master notebook."""

    def __init__(self, cell: int, line: int, message: str) -> None:
        super().__init__(f"cell {cell}, line {line}: {message}")
        self.cell = cell
        self.line = line


class NotebookError(GraderError):
    """A file that cannot be read as a Jupyter notebook."""
