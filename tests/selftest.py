"""The grader's own guarantees under mutation: each named mutation of its critical code must make at least
one named test fail.

    python tests/selftest.py [--jobs N] [--only NAME ...]      (``make selftest``)

Each mutation is an exact text replacement (file, old text, new text) applied to a copy of the working
tree (tracked and untracked files git does not ignore) in a temporary folder. The named tests then run
there with pytest (cwd and PYTHONPATH = the copy), and the mutation is *caught* when the run fails. Plain
text, not grader/authoring/mutate.py's ``ast`` operators: those model a student's mistakes in a reference function,
while these are hand-picked sabotages of single lines (a flag of bwrap, a call left out) that must read
exactly like the diff a careless change would make, and fail loudly when that line changes.

Every run happens inside a PID namespace of its own (``unshare --pid``): a mutation that shares the
sandbox's PID namespace lets the worker's clean-up (which kills every process it can see) reach the
machine's processes. The unmutated copy runs every named test first; if any of them fails, the table
means nothing and the check fails. Prints a table; exits 1 unless every mutation is caught.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_SECONDS = 300
GUARDS = "tests/test_guards.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation("interpreter folders bound writable", "grader/grading/sandbox.py",
             'command += ["--ro-bind", root, root]', 'command += ["--bind", root, root]',
             (f"{GUARDS}::test_the_interpreter_folders_are_read_only",
              "tests/test_sandbox_guarantees.py::test_bound_paths_cannot_be_written")),
    Mutation("network namespace shared", "grader/grading/sandbox.py",
             'command = ["bwrap", "--unshare-all",', 'command = ["bwrap", "--unshare-all", "--share-net",',
             (f"{GUARDS}::test_the_sandbox_has_its_own_network_namespace",
              "tests/test_sandbox_guarantees.py::test_no_listener_of_the_host_can_be_reached")),
    # bubblewrap 0.8 has no --share-pid: every namespace of --unshare-all but the PID one
    Mutation("PID namespace shared", "grader/grading/sandbox.py",
             'command = ["bwrap", "--unshare-all",',
             'command = ["bwrap", "--unshare-user", "--unshare-ipc", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",',
             (f"{GUARDS}::test_the_sandbox_has_its_own_pid_namespace",)),
    Mutation("/proc writable", "grader/grading/sandbox.py",
             '"--proc", "/proc", "--remount-ro", "/proc",', '"--proc", "/proc",',
             ("tests/test_sandbox_guarantees.py::test_bound_paths_cannot_be_written",)),
    Mutation("I/O signals can be aimed at other processes", "grader/grading/worker.py",
             "FCNTL_COMMANDS = (0, 1, 2, 3, 4, 5, 6, 7, 9,", "FCNTL_COMMANDS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9,",
             ("tests/test_hostile_sandbox.py::test_only_allowed_system_calls_get_through",)),
    Mutation("seccomp filter not installed", "grader/grading/worker.py",
             '_set_limits(request["limits"])\n        seccomp.lock_down()\n', '_set_limits(request["limits"])\n',
             (f"{GUARDS}::test_the_seccomp_filter_is_installed",
              "tests/test_sandbox_guarantees.py::test_no_student_code_runs_when_seccomp_cannot_be_applied",
              "tests/test_hostile_sandbox.py::test_only_allowed_system_calls_get_through")),
    Mutation("resource limits not applied", "grader/grading/worker.py",
             '_set_limits(request["limits"])\n        seccomp.lock_down()\n', 'seccomp.lock_down()\n',
             (f"{GUARDS}::test_the_resource_limits_are_applied",)),
    Mutation("arrays read with np.load and pickles allowed", "grader/grading/wire.py",
             "flat = np.frombuffer(blob, dtype=dtype, offset=offset)\n"
             '    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")',
             "return np.load(io.BytesIO(blob), allow_pickle=True)",
             (f"{GUARDS}::test_the_npy_reader_refuses_pickles_even_past_the_header_check",
              "tests/test_wire.py::test_pickled_arrays_are_never_loaded")),
    Mutation("array header not checked against the blob's size", "grader/grading/wire.py",
             "if len(blob) - offset != math.prod(shape) * dtype.itemsize:",
             "if False:",
             ("tests/test_wire.py::test_an_array_header_that_lies_about_its_size_is_refused_before_allocation",)),
    Mutation("Jinja autoescape off", "grader/reporting/report.py",
             'autoescape=select_autoescape(["html", "html.j2"])', "autoescape=False",
             ("tests/test_report.py::test_html_escapes_everything_from_the_submission",)),
    Mutation("tolerance ten times looser", "grader/checks.py", "RTOL = 1e-4", "RTOL = 1e-3",
             ("tests/test_checks.py",)),
    Mutation("changed arguments not checked", "grader/checks.py",
             "    result = function(*args, **kwargs)\n", "    return function(*args, **kwargs)\n",
             ("tests/test_checks.py::test_a_function_changing_its_argument_in_place_is_modified",
              "tests/test_toy_course.py::test_an_argument_changed_in_place_is_reported_as_modified")),
    Mutation("a change in place not reported to call_unchanged", "grader/grading/grade.py",
             "        return self._last if self._changed else None\n", "        return None\n",
             ("tests/test_toy_course.py::test_an_argument_changed_in_place_is_reported_as_modified",
              "tests/test_hostile.py::test_modifying_the_input_is_reported")),
    Mutation("argument snapshots share the arguments' arrays", "grader/checks.py",
             '        return value.copy(order="K")  # as deepcopy: the same memory order\n', "        return value\n",
             ("tests/test_checks.py::test_a_snapshot_is_a_deep_copy",
              "tests/test_checks.py::test_a_function_changing_its_argument_in_place_is_modified")),
    Mutation("changed arguments not written back", "grader/grading/grade.py",
             "def _write_back(original: Any, new: Any) -> None:\n",
             "def _write_back(original: Any, new: Any) -> None:\n    return\n",
             ("tests/test_toy_course.py::test_an_argument_changed_in_place_is_reported_as_modified",
              "tests/test_hostile.py::test_modifying_the_input_is_reported")),
    Mutation("disallowed imports loaded", "grader/grading/extract.py",
             "not assignment.allows_import(chunk.modules)", "False",
             ("tests/test_toy_course.py::test_imports_the_course_does_not_allow_are_skipped_with_a_note",)),
    Mutation("top-level calls kept by extraction", "grader/grading/extract.py",
             '    return ("assign", names) if names else None\n',
             '    if isinstance(node, ast.Expr):\n        return "def", ()\n    return ("assign", names) if names else None\n',
             ("tests/test_extract.py::test_keeps_imports_definitions_and_the_constants_they_read",
              "tests/test_extract.py::test_nothing_is_executed")),
    Mutation("extraction runs what it keeps", "grader/grading/extract.py",
             "            reads = _reads(code, node)\n",
             "            reads = _reads(code, node)\n            exec(compile(code, 'cell', 'exec'), {})\n",
             ("tests/test_extract.py::test_nothing_is_executed",)),
    Mutation("hidden array values shown", "solutions/cnn_step_by_step/hidden_tests.py",
             "expect_array(name, got, expected, show_values=False)", "expect_array(name, got, expected, show_values=True)",
             ("tests/test_suites.py::test_hidden_value_messages_do_not_show_values",)),
    Mutation("hidden scalar values shown", "solutions/cnn_step_by_step/hidden_tests.py",
             'ref.conv_single_step(a, W, b), show_values=False)', 'ref.conv_single_step(a, W, b), show_values=True)',
             ("tests/test_suites.py::test_hidden_messages_do_not_reveal_the_expected_scalar",)),
    Mutation("unisolated worker not switched to GRADER_WORKER_USER", "grader/grading/sandbox.py",
             "pass_fds=data_fds, **switch)", "pass_fds=data_fds)",
             ("tests/test_worker_user.py::test_student_code_runs_as_the_named_user_and_cannot_touch_roots_files",
              "tests/test_gradescope.py::test_as_root_without_bubblewrap_student_code_runs_as_nobody_and_cannot_reach_the_bundle")),
    Mutation("zip entries climbing out with '..' accepted", "grader/course/archives.py",
             'if ".." in PurePosixPath(posix).parts:', "if False:",
             ("tests/test_course_archives.py::test_a_path_that_escapes_is_refused",)),
    Mutation("zip entries' declared sizes not checked", "grader/course/archives.py",
             "if declared > MAX_TOTAL_BYTES:", "if False:",
             ("tests/test_course_archives.py::test_a_declared_size_of_10_gb_refuses_the_archive_unread",)),
    Mutation("reference runner answers functions the call does not allow", "grader/grading/callbacks.py",
             "    if name not in allowed:", "    if False:",
             ("tests/test_coverage_callbacks.py::test_only_what_the_call_under_way_allows_is_answered",)),
    Mutation("reference runner outlives the child it served", "grader/grading/sandbox.py",
             "        if self.runner is not None:  # it served this child only", "        if False:  # it served this child only",
             ("tests/test_coverage_sandbox.py::test_what_one_child_leaves_on_its_line_to_the_reference_never_reaches_the_next",)),
    Mutation("a call's wall clock counted instead of its CPU time", "grader/grading/sandbox.py",
             "return time.monotonic() - started if before is None or now is None else now - before",
             "return time.monotonic() - started",
             ("tests/test_coverage_sandbox.py::test_a_busy_machine_does_not_make_a_correct_call_time_out",)),
    Mutation("the child keeps the zygote's meter line", "grader/grading/worker.py",
             "        for fd in own:\n", "        for fd in own[:2]:\n",
             ("tests/test_coverage_sandbox.py::test_the_child_holds_none_of_the_zygotes_lines",)),
    Mutation("a queued answer given for other arguments", "grader/grading/grade.py",
             "if mine is not None and mine[1] is not None and identical((args, kwargs), mine[0]):",
             "if mine is not None and mine[1] is not None:",
             ("tests/test_coverage_worker.py::test_the_proxy_gives_a_check_the_call_queued_for_it_if_it_makes_that_call",)),
    Mutation("the views' writer handed places without the unreadable cells' defs", "grader/model.py",
             "return Places(graded, dict(found.unparsed_cells), dict(found.skipped))",
             "return Places(graded, {}, dict(found.skipped))",
             ("tests/test_annotate.py::test_the_places_the_grader_hands_the_writer_are_those_it_would_find",)),
    Mutation("a kept isolation graph lending references it should not", "grader/grading/suite.py",
             "isinstance(others, list) and set(others) <= set(graded) for others in kept.values()",
             "isinstance(others, list) for others in kept.values()",
             ("tests/test_speed_paths.py::test_the_kept_isolation_graph_is_the_fresh_one_and_follows_edits",)),
    Mutation("a queued call's CPU time counted from when it was sent", "grader/grading/sandbox.py",
             "                self._queued_from = (time.monotonic(), self.cpu_seconds())",
             "                self._queued_from = (started, before)",
             ("tests/test_coverage_worker.py::test_a_queued_call_has_its_own_time_limit_counted_from_its_start",)),
    Mutation("each function's calls given a wall-clock budget of their own", "grader/grading/grade.py",
             "            waited = proxy.waited\n", "",
             ("tests/test_sandbox_guarantees.py::test_calls_that_sleep_under_their_limit_meet_the_submissions_wall_clock_budget",)),
    Mutation("a child's pipe flags and size left for the next child", "grader/grading/worker.py",
             "    for fd in fds:\n        _reset_pipe(fd)\n", "",
             ("tests/test_sandbox_guarantees.py::test_nothing_a_submission_does_to_what_it_shares_reaches_the_next",)),
    Mutation("a child may set the zygote's resource limits", "grader/grading/worker.py",
             "            self.rule(_ALLOW, name, (0, _CMP_EQ, 0, 0))",
             "            self.rule(_ALLOW, name, (0, _CMP_EQ, 0, 0))\n            self.rule(_ALLOW, name, (0, _CMP_EQ, 2, 0))",
             ("tests/test_sandbox_guarantees.py::test_a_child_can_neither_read_nor_set_the_zygotes_resource_limits",
              "tests/test_sandbox_guarantees.py::test_nothing_a_submission_does_to_what_it_shares_reaches_the_next")),
    Mutation("grader errors blamed on the student", "grader/grading/grade.py",
             'result = {"outcome": GRADER_ERROR, "message": grader_error_message(error, kind)}',
             'result = {"outcome": "wrong", "failure": "structure", "message": grader_error_message(error, kind)}',
             ("tests/test_grader_errors.py::test_a_raising_test_and_a_raising_recogniser_are_the_graders_errors",)),
    Mutation("the pages' policy letting any inline script run", "templates/base.html.j2",
             "; script-src {{ script[1] }}", "; script-src 'unsafe-inline'",
             ("tests/test_browser.py::test_the_roster_sorts_by_any_column_and_runs_no_other_script",
              "tests/test_summary.py::test_the_pages_only_script_is_the_one_its_policy_lets_run")),
    Mutation("the gradebook's schema committed apart from its rows", "grader/reporting/gradebook.py",
             'db.executescript("BEGIN;" + SCHEMA)', "db.executescript(SCHEMA)",
             ("tests/test_report.py::test_the_gradebook_is_written_whole_or_not_at_all",)),
    Mutation("the sandbox's root left writable for the next submissions", "grader/grading/sandbox.py",
             'command += ["--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]', 'command += ["--chdir", "/tmp", "--clearenv"]',
             ("tests/test_sandbox_guarantees.py::test_nothing_a_submission_writes_outside_tmp_reaches_the_next",)),
    Mutation("a student's forged word taken for the sandbox's", "grader/grading/worker.py",
             '    wire.send(fds[1], {"op": "locked"})\n', "",
             ("tests/test_hostile_sandbox.py::test_a_forged_word_of_the_sandbox_is_the_students_not_the_graders",)),
    Mutation("statements a definition needs dropped by extraction", "grader/grading/extract.py",
             "                kept.add(index)\n",
             "                kept.add(index) if chunk.kind in ('import', 'def') else None\n",
             ("tests/test_extract.py::test_statements_a_definition_needs_are_kept",)),
    Mutation("an answer given in time refused to a caller that comes late", "grader/bounded.py",
             "if not selector.select(max(0.0, wait)):",
             "if time.monotonic() > deadline + GRACE or not selector.select(max(0.0, wait)):",
             ("tests/test_bounded.py::test_an_answer_given_in_time_is_taken_however_late_the_caller_comes_for_it",)),
    Mutation("an answer finished past its deadline given all the same", "grader/bounded.py",
             "        if time.monotonic() > deadline:\n            code = LATE", "        if False:\n            code = LATE",
             ("tests/test_bounded.py::test_an_answer_finished_past_the_deadline_never_counts_whenever_the_caller_comes",)),
    Mutation("a huge cell highlighted on the annotated page", "grader/reporting/notebook_page.py",
             'if source in _plain:\n        return _plain_html(source, f"highlight hl-{language}")', "",
             ("tests/test_notebook_page.py::test_a_huge_cell_is_shown_plain_and_cut_and_the_page_stays_escaped",)),
    Mutation("the reference's calls timed by the wall clock", "grader/authoring/limits.py",
             "clock: Callable[[], float] = time.process_time", "clock: Callable[[], float] = time.perf_counter",
             ("tests/test_validate.py::test_the_limit_check_counts_cpu_time_as_call_seconds_does",)),
)


@dataclass(frozen=True)
class Row:
    name: str
    tests: tuple[str, ...]
    verdict: str  # caught | SURVIVED | ERROR
    detail: str
    seconds: float


def working_tree(root: Path) -> list[str]:
    """Files of the working tree as the next commit would see them: tracked and untracked, not ignored."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, check=True).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (root / name).is_file()})


def copy_tree(root: Path, files: list[str], destination: Path) -> None:
    for name in files:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)


def apply(copy: Path, mutation: Mutation) -> None:
    path = copy / mutation.path
    text = path.read_text()
    if text.count(mutation.old) != 1:
        raise LookupError(f"{mutation.path} has {text.count(mutation.old)} copies of the text to mutate, not 1: "
                          "update the mutation to the code as it is now")
    path.write_text(text.replace(mutation.old, mutation.new))


def isolated() -> list[str]:
    """A PID namespace of the run's own (root needs no user namespace; others map themselves)."""
    user = [] if os.geteuid() == 0 else ["--user", "--map-current-user"]
    return ["unshare", *user, "--pid", "--fork", "--mount-proc", "--kill-child"]


def run_tests(copy: Path, tests: tuple[str, ...], stop_early: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COVERAGE"))}
    env["PYTHONPATH"] = str(copy)
    command = [*isolated(), sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
               *(["-x"] if stop_early else []), *tests]
    return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=TEST_SECONDS)


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    return lines[-1].strip("= ")[:90] if lines else f"exit code {result.returncode}"


def check(mutation: Mutation | None, files: list[str], tests: tuple[str, ...]) -> Row:
    name = mutation.name if mutation else "(no mutation: every named test passes)"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grader-selftest-") as folder:
        copy = Path(folder)
        copy.chmod(0o755)  # as the checkout is: the GRADER_WORKER_USER tests run the worker from it as nobody
        copy_tree(ROOT, files, copy)
        try:
            if mutation:
                apply(copy, mutation)
            result = run_tests(copy, tests, stop_early=mutation is not None)
        except (LookupError, subprocess.TimeoutExpired) as error:
            return Row(name, tests, "ERROR", str(error).splitlines()[0][:90], time.monotonic() - started)
    seconds = time.monotonic() - started
    if mutation is None:
        return Row(name, tests, "ok" if result.returncode == 0 else "ERROR", last_line(result), seconds)
    if result.returncode == 1:
        return Row(name, tests, "caught", last_line(result), seconds)
    if result.returncode < 0 or result.returncode == 137:
        return Row(name, tests, "caught", f"the test run was killed (exit code {result.returncode})", seconds)
    if result.returncode == 0:
        return Row(name, tests, "SURVIVED", last_line(result), seconds)
    return Row(name, tests, "ERROR", f"pytest exit code {result.returncode}: {last_line(result)}", seconds)


def print_table(rows: list[Row]) -> None:
    width = max(len(row.name) for row in rows)
    print(f"{'mutation':<{width}}  {'caught':<8}  {'seconds':>7}  tests")
    print("-" * (width + 40))
    baseline, *rows = rows
    print(f"{baseline.name:<{width}}  {baseline.verdict:<8}  {baseline.seconds:>7.1f}  all {len(baseline.tests)} named tests: "
          f"{baseline.detail}")
    for row in rows:
        first, *rest = row.tests
        print(f"{row.name:<{width}}  {row.verdict:<8}  {row.seconds:>7.1f}  {first.removeprefix('tests/')}")
        for test in rest:
            print(f"{'':<{width}}  {'':<8}  {'':>7}  {test.removeprefix('tests/')}")
        if row.verdict != "caught":
            print(f"{'':<{width}}  {'':<8}  {'':>7}  -> {row.detail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", nargs="*", default=None, help="names of mutations to run (default: all)")
    options = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if options.only is None or m.name in options.only]
    if not chosen:
        parser.error(f"no mutation named {options.only}; there are: {', '.join(m.name for m in MUTATIONS)}")
    if shutil.which("unshare") is None or shutil.which("bwrap") is None:
        print("selftest: needs bubblewrap and unshare (util-linux)", file=sys.stderr)
        return 2
    files = working_tree(ROOT)
    every_test = tuple(dict.fromkeys(test for m in chosen for test in m.tests))
    started = time.monotonic()
    with ThreadPoolExecutor(max(1, options.jobs)) as pool:
        baseline = pool.submit(check, None, files, every_test)
        rows = list(pool.map(lambda m: check(m, files, m.tests), chosen))
        rows.insert(0, baseline.result())
    print_table(rows)
    survived = [row.name for row in rows[1:] if row.verdict != "caught"]
    print(f"\n{len(rows) - 1 - len(survived)} of {len(rows) - 1} mutations caught in {time.monotonic() - started:.0f} s"
          + (f"; not caught: {', '.join(survived)}" if survived else ""))
    if rows[0].verdict != "ok":
        print(f"the named tests fail without any mutation ({rows[0].detail}): fix them first", file=sys.stderr)
        return 1
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
