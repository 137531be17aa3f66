"""Where and with what the grading runs: batches of jobs, pinned environments."""
