"""``python -m grader`` and the ``grader`` command. The garbage collector is off while the command's modules load:
they live as long as the command, and some twenty young collections scanned them again and again (~4 ms of a grade).
``cli.main`` turns it back on, after freezing what loading made, except for the commands that grade, which do so when
the grading starts (``batch.collect_from_here``)."""

import gc

gc.disable()

from grader.cli import run  # noqa: E402

if __name__ == "__main__":
    run()
