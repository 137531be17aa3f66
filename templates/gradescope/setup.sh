#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (Ubuntu, network allowed).
# It installs Python, libseccomp (the grader's system-call filter) and, where the image has it, bubblewrap; then the
# grader's dependencies in /autograder/venv; then builds a pinned [environment] and checks the reference once.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
ROOT="${GRADER_GS_ROOT:-/autograder}"

apt-get update -qq
apt-get install -y -qq python3 python3-venv python3-pip libseccomp2 ca-certificates
# bubblewrap is the grader's sandbox; Docker usually refuses it the user namespaces it needs, and then the
# container is the only sandbox (run_autograder says so in every results.json).
apt-get install -y -qq bubblewrap || echo "bubblewrap could not be installed: student code will run without it"

python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "the grader needs Python 3.10 or later" >&2; exit 1; }
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install --quiet --upgrade pip
"$ROOT/venv/bin/pip" install --quiet -r "$ROOT/source/requirements.txt"
PYTHONPATH="$ROOT/source/lib" "$ROOT/venv/bin/python" -m grader.course.gradescope setup --root "$ROOT"
