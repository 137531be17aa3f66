"""One submitted notebook → a GradeReport: extraction, the sandbox and its channel, the checks."""
