"""grader: write an assignment once, generate the student notebook, grade submissions safely."""

__version__ = "0.1.0"
