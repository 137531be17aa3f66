"""grader: write an assignment once, generate the student notebook, grade submissions safely."""

__version__ = "0.1.0"

#: BLAS thread counts for the grader's own processes (set by the commands unless the user set them, and always in the
#: sandbox). Its arrays are small, and a BLAS thread pool only competes with the sandbox starting beside it: two NumPy
#: imports at once took 0.14 s each with OpenBLAS's threads and 0.08 s without (two `python -c "import numpy"`
#: side by side, timed with /usr/bin/time).
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
