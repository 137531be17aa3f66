"""Master notebook → student release: on a small course built in a temporary folder (API and real CLI), and on the
real assignment, whose committed release must be up to date and free of reference code."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from grader.authoring.generate import CHECKS_MODULE, PLACEHOLDER, generate, release_differences, student_notebook
from grader.config import Assignment, load_assignment
from grader.errors import MarkerError
from grader.grading.extract import to_python
from grader.notebooks import read_notebook

NAME = "demo"
NOTEBOOK = "demo.ipynb"
RELEASE = {NOTEBOOK, "grader_checks.py", "assignment.toml", "public_tests.py", "data.txt"}
TOML = f"""title = "Demo assignment"
version = "2.1.0"
notebook = "{NOTEBOOK}"
release_files = ["public_tests.py", "data.txt"]

[[functions]]
name = "double"
points = 60

[[functions]]
name = "half"
points = 40
"""
PUBLIC_TESTS = "def double_test(target):\n    assert target(2) == 4\n"

DOUBLE = '''# GRADED FUNCTION: double

def double(x):
    """Twice x."""
    # y = None
    # YOUR CODE STARTS HERE
    y = secret_double(x)
    # YOUR CODE ENDS HERE
    return y'''
HALF = """# GRADED FUNCTION: half

def half(x):
    ### BEGIN SOLUTION
    return x / secret_two
    ### END SOLUTION"""
HALF_STUDENT = f"# GRADED FUNCTION: half\n\ndef half(x):\n    # YOUR CODE HERE\n    {PLACEHOLDER}"
HIDDEN = "double_test(double)\n### BEGIN HIDDEN TESTS\nassert double(secret_hidden) == 2 * secret_hidden\n### END HIDDEN TESTS"


def code(source: str, count: int | None = None, outputs: int = 0, **metadata: object) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, execution_count=count, metadata=metadata)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"secret_output {i}\n") for i in range(outputs)]
    return cell


def master_cells() -> list[nbformat.NotebookNode]:
    """Numbered as the generator numbers them: cell 1 is the first."""
    return [
        nbformat.v4.new_markdown_cell("# Demo\nWrite `double` and `half`."),  # 1
        code("import math\n%matplotlib inline\n!echo hello\nls -la", 1, 1, tags=["setup"], collapsed=True,
             scrolled=True, editable=False, nbgrader={"grade": False, "secret_meta": True}),  # 2
        code(DOUBLE, 2, 0, tags=["graded"]),  # 3
        code(HALF, 3, 0),  # 4
        code("answer = secret_answer()  # SOLUTION\nprint(answer)", 4, 2),  # 5
        nbformat.v4.new_markdown_cell("Why?\n### BEGIN SOLUTION\nBecause secret_reason.\n### END SOLUTION"),  # 6
        code("secret_instructor = double(2)\nassert secret_instructor == 4", 5, 1, tags=["instructor-only", "x"]),  # 7
        code(HIDDEN, 6, 0),  # 8
        nbformat.v4.new_raw_cell("raw text stays"),  # 9
    ]


def write_master(course: Path, cells: list[nbformat.NotebookNode]) -> Path:
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                             "language": "python"}})
    for number, cell in enumerate(notebook.cells, 1):
        cell.id = f"m{number}"
    path = course / "solutions" / NAME / NOTEBOOK
    nbformat.write(notebook, path)
    return path


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course folder with solutions/demo (assignment.toml, master notebook, release files) and no release yet."""
    source = tmp_path / "solutions" / NAME
    source.mkdir(parents=True)
    (source / "assignment.toml").write_text(TOML)
    (source / "public_tests.py").write_text(PUBLIC_TESTS)
    (source / "data.txt").write_text("1 2 3\n")
    (source / "hidden_tests.py").write_text("SECRET_HIDDEN_TESTS = True\n")
    write_master(tmp_path, master_cells())
    return tmp_path


@pytest.fixture
def demo(course: Path) -> Assignment:
    return load_assignment(NAME, course)


@pytest.fixture
def student(demo: Assignment) -> nbformat.NotebookNode:
    return student_notebook(read_notebook(demo.master_notebook), demo)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def break_cell(course: Path, number: int, source: str) -> None:
    cells = master_cells()
    cells[number - 1] = code(source)
    write_master(course, cells)


# --- the student notebook ------------------------------------------------------------------------------------------


def test_instructor_only_cells_are_dropped_and_the_rest_kept_in_order(student: nbformat.NotebookNode) -> None:
    master = master_cells()
    assert [cell.id for cell in student.cells] == [f"m{n}" for n in (1, 2, 3, 4, 5, 6, 8, 9)]
    assert [cell.cell_type for cell in student.cells] == [c.cell_type for n, c in enumerate(master, 1) if n != 7]
    assert "secret_instructor" not in nbformat.writes(student)


def test_outputs_and_execution_counts_are_cleared(student: nbformat.NotebookNode) -> None:
    code_cells = [cell for cell in student.cells if cell.cell_type == "code"]
    assert len(code_cells) == 5
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code_cells)
    assert "secret_output" not in nbformat.writes(student)


def test_cell_metadata_keeps_only_tags_and_editing_flags(student: nbformat.NotebookNode) -> None:
    assert dict(student.cells[1].metadata) == {"tags": ["setup"], "editable": False}
    assert dict(student.cells[2].metadata) == {"tags": ["graded"]}


def test_notebook_metadata_names_assignment_version_and_functions(student: nbformat.NotebookNode) -> None:
    assert student.metadata["grader"] == {"assignment": NAME, "version": "2.1.0", "functions": ["double", "half"]}
    assert student.metadata["kernelspec"]["name"] == "python3"


def test_every_code_cell_compiles(student: nbformat.NotebookNode) -> None:
    for number, cell in enumerate(student.cells, 1):
        if cell.cell_type == "code":
            compile(to_python(cell.source), f"student cell {number}", "exec")


def test_solutions_of_every_style_are_stripped_from_code(student: nbformat.NotebookNode) -> None:
    sources = [cell.source for cell in student.cells]
    assert sources[2] == DOUBLE.replace("    y = secret_double(x)\n", "")
    assert sources[3] == HALF_STUDENT
    assert sources[4] == "answer = ...\nprint(answer)"
    assert sources[6] == "double_test(double)"
    assert "secret" not in json.dumps(sources)


def test_markdown_solution_markers_are_stripped(student: nbformat.NotebookNode) -> None:
    assert student.cells[5].source == "Why?\nYOUR ANSWER HERE"
    assert student.cells[0].source == "# Demo\nWrite `double` and `half`."
    assert student.cells[-1].source == "raw text stays"


def test_placeholder_makes_the_emptied_function_raise(student: nbformat.NotebookNode) -> None:
    namespace: dict = {}
    exec(compile(student.cells[3].source, "half", "exec"), namespace)
    with pytest.raises(NotImplementedError):
        namespace["half"](4)


def test_master_is_not_modified(demo: Assignment) -> None:
    before = demo.master_notebook.read_bytes()
    master = read_notebook(demo.master_notebook)
    student_notebook(master, demo)
    assert master == read_notebook(demo.master_notebook)
    assert demo.master_notebook.read_bytes() == before


def test_master_without_cell_ids_gets_a_valid_release_with_stable_ids(course: Path, demo: Assignment) -> None:
    data = json.loads(demo.master_notebook.read_text())
    data["nbformat_minor"] = 4
    for cell in data["cells"]:
        del cell["id"]
    demo.master_notebook.write_text(json.dumps(data))
    generate(demo)
    release = nbformat.read(demo.student_notebook, as_version=4)
    nbformat.validate(release)
    assert release.nbformat_minor >= 5
    assert [cell.id for cell in release.cells] == [f"cell-{n}" for n in (1, 2, 3, 4, 5, 6, 8, 9)]


# --- the release folder --------------------------------------------------------------------------------------------


def test_release_contains_the_notebook_checks_config_and_release_files(demo: Assignment) -> None:
    written = generate(demo)
    assert sorted(path for path, _ in written) == sorted(demo.release_dir / name for name in RELEASE)
    assert all(changed for _, changed in written)
    assert not any(changed for _, changed in generate(demo))  # a second run rewrites nothing
    assert {p.name for p in demo.release_dir.iterdir()} == RELEASE
    assert (demo.release_dir / "grader_checks.py").read_bytes() == CHECKS_MODULE.read_bytes()
    assert CHECKS_MODULE == Path(__file__).resolve().parent.parent / "grader" / "checks.py"
    for name in ("assignment.toml", "public_tests.py", "data.txt"):
        assert (demo.release_dir / name).read_bytes() == (demo.source_dir / name).read_bytes()
    nbformat.validate(nbformat.read(demo.student_notebook, as_version=4))


def test_release_keeps_hidden_tests_and_the_master_out(demo: Assignment) -> None:
    generate(demo)
    text = b"".join(p.read_bytes() for p in demo.release_dir.iterdir())
    assert b"SECRET_HIDDEN_TESTS" not in text
    assert b"secret" not in text


def test_generating_twice_gives_the_same_bytes_and_rewrites_nothing(demo: Assignment, tmp_path: Path) -> None:
    generate(demo)
    first = snapshot(demo.release_dir)
    generate(demo)
    assert snapshot(demo.release_dir) == first
    generate(demo, tmp_path / "elsewhere")
    assert {name: content for name, (content, _) in snapshot(tmp_path / "elsewhere").items()} == {
        name: content for name, (content, _) in first.items()}


def test_notebook_bytes_do_not_depend_on_the_master_file_layout(demo: Assignment) -> None:
    generate(demo)
    first = demo.student_notebook.read_bytes()
    master = nbformat.read(demo.master_notebook, as_version=4)
    demo.master_notebook.write_text(json.dumps(master, indent=4, sort_keys=False))  # same notebook, other JSON layout
    generate(demo)
    assert demo.student_notebook.read_bytes() == first


def test_marker_error_writes_nothing(course: Path, demo: Assignment) -> None:
    break_cell(course, 4, "def half(x):\n    ### BEGIN SOLUTION\n    return x / 2\n")
    with pytest.raises(MarkerError) as caught:
        generate(demo)
    assert (caught.value.cell, caught.value.line) == (4, 2)
    assert not demo.release_dir.exists()


def test_marker_error_leaves_an_existing_release_unchanged(course: Path, demo: Assignment) -> None:
    generate(demo)
    before = snapshot(demo.release_dir)
    break_cell(course, 8, "x = 1\ny = 2\n### END HIDDEN TESTS")  # cell 8 counts the instructor-only cell 7
    (demo.source_dir / "public_tests.py").write_text("changed = True\n")
    with pytest.raises(MarkerError) as caught:
        generate(demo)
    assert (caught.value.cell, caught.value.line) == (8, 3)
    assert snapshot(demo.release_dir) == before


def test_release_differences_name_each_stale_or_missing_file(demo: Assignment) -> None:
    generate(demo)
    assert release_differences(demo) == []
    (demo.release_dir / "data.txt").unlink()
    (demo.release_dir / "public_tests.py").write_text("edited by hand\n")
    assert sorted(release_differences(demo)) == sorted([
        f"{demo.release_dir / 'data.txt'} is missing",
        f"{demo.release_dir / 'public_tests.py'} is out of date",
    ])


# --- the command line ----------------------------------------------------------------------------------------------


def test_cli_marker_error_exits_non_zero_naming_cell_and_line_and_writes_nothing(course: Path, cli) -> None:
    break_cell(course, 3, "def double(x):\n    # YOUR CODE STARTS HERE\n    ### BEGIN SOLUTION\n    return 2 * x\n")
    result = cli("generate", NAME, cwd=course)
    assert result.returncode == 1
    assert "cell 3, line 3" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (course / "assignments").exists()


def test_cli_check_is_0_when_up_to_date_and_1_naming_the_file_when_not(course: Path, cli) -> None:
    release = course / "assignments" / NAME
    result = cli("generate", NAME, "--check", cwd=course)
    assert result.returncode == 1
    assert f"out of date: {release / NOTEBOOK} is missing" in result.stdout
    assert not release.exists()  # --check writes nothing

    result = cli("generate", NAME, cwd=course)
    assert result.returncode == 0, result.stderr
    assert {line.split(maxsplit=1)[1] for line in result.stdout.splitlines()} == {str(release / n) for n in RELEASE}
    assert all(line.startswith("wrote") for line in result.stdout.splitlines())
    result = cli("generate", NAME, "--check", cwd=course)
    assert (result.returncode, result.stdout.strip()) == (0, f"{NAME}: the release is up to date")

    master = course / "solutions" / NAME / NOTEBOOK
    notebook = nbformat.read(master, as_version=4)
    notebook.cells[0].source += "\nOne more sentence."
    nbformat.write(notebook, master)
    before = snapshot(release)
    result = cli("generate", NAME, "--check", cwd=course)
    assert result.returncode == 1
    assert result.stdout.strip() == f"out of date: {release / NOTEBOOK} is out of date"
    assert f"grader generate {NAME}" in result.stderr
    assert snapshot(release) == before

    assert cli("generate", NAME, cwd=course).returncode == 0
    (release / "public_tests.py").write_text(PUBLIC_TESTS + "# edited in the release by mistake\n")
    result = cli("generate", NAME, "--check", cwd=course)
    assert result.returncode == 1
    assert result.stdout.strip() == f"out of date: {release / 'public_tests.py'} is out of date"


def test_cli_out_folder(course: Path, cli) -> None:
    assert cli("generate", NAME, "--out", "build", cwd=course).returncode == 0
    assert {p.name for p in (course / "build").iterdir()} == RELEASE
    assert not (course / "assignments").exists()
    assert cli("generate", NAME, "--out", "build", "--check", cwd=course).returncode == 0


# --- the real assignment -------------------------------------------------------------------------------------------


def regions(source: str) -> tuple[list[str], list[str]]:
    """(lines strictly between Coursera markers, the other lines) of a master cell."""
    inside, outside, opened = [], [], False
    for line in source.split("\n"):
        if re.match(r"\s*# YOUR CODE STARTS HERE", line):
            opened = True
        elif re.match(r"\s*# YOUR CODE ENDS HERE", line):
            opened = False
        elif opened:
            inside.append(line)
            continue
        outside.append(line)
    return inside, outside


def is_code(line: str) -> bool:
    return bool(line.strip()) and not line.strip().startswith("#")


@pytest.fixture(scope="module")
def master(assignment: Assignment) -> nbformat.NotebookNode:
    return read_notebook(assignment.master_notebook)


@pytest.fixture(scope="module")
def release(assignment: Assignment) -> nbformat.NotebookNode:
    return read_notebook(assignment.student_notebook)


def student_cell(release: nbformat.NotebookNode, header: str) -> str:
    (source,) = [c.source for c in release.cells if c.cell_type == "code" and c.source.split("\n", 1)[0] == header]
    return source


def test_committed_release_is_up_to_date(assignment: Assignment) -> None:
    assert release_differences(assignment) == [], f"run `grader generate {assignment.name}` and commit the result"


def reference_lines(master: nbformat.NotebookNode) -> dict[str, int]:
    """Stripped reference code line → the master cell it is the answer in."""
    found: dict[str, int] = {}
    for number, cell in enumerate(master.cells, 1):
        if cell.cell_type == "code":
            for line in regions(cell.source)[0]:
                if is_code(line):
                    found.setdefault(line.strip(), number)
    return found


def test_each_release_cell_has_none_of_its_own_reference_lines(assignment: Assignment, master: nbformat.NotebookNode,
                                                                 release: nbformat.NotebookNode) -> None:
    """What the generator guarantees: a cell's answer is gone from that cell's student version."""
    by_id = {cell.id: cell.source for cell in release.cells}
    checked = 0
    for number, cell in enumerate(master.cells, 1):
        inside, outside = regions(cell.source)
        answer = {line.strip() for line in inside if is_code(line)} - {line.strip() for line in outside}
        if cell.cell_type == "code" and answer:
            checked += 1
            leaked = answer & {line.strip() for line in by_id[cell.id].split("\n")}
            assert not leaked, f"master cell {number}: reference lines in its student version: {sorted(leaked)}"
    assert checked >= len(assignment.functions)


def test_release_has_none_of_the_reference_code_lines(master: nbformat.NotebookNode, release: nbformat.NotebookNode) -> None:
    """No line of any answer appears anywhere in the student's code, not even given in another function's scaffold."""
    reference = reference_lines(master)
    assert len(reference) > 20  # the assignment has reference solutions to hide
    leaks = [f"release cell {number} ({cell.source.split(chr(10), 1)[0]}): {line.strip()!r}, "
             f"the answer in master cell {reference[line.strip()]}"
             for number, cell in enumerate(release.cells, 1) if cell.cell_type == "code"
             for line in cell.source.split("\n") if line.strip() in reference]
    assert not leaks, "reference code shown to students:\n" + "\n".join(leaks)


def test_each_graded_function_keeps_def_docstring_and_hints(assignment: Assignment, release: nbformat.NotebookNode,
                                                            solution_cells: dict[str, str]) -> None:
    assert list(solution_cells) == [f.name for f in assignment.functions]
    for name, master_source in solution_cells.items():
        source = student_cell(release, f"# GRADED FUNCTION: {name}")
        inside, outside = regions(master_source)
        assert inside, f"{name} has no reference code between markers"
        (master_def,) = [line for line in outside if line.startswith(f"def {name}(")]
        assert master_def in source.split("\n")
        student_function, master_function = (
            next(n for n in ast.parse(s).body if isinstance(n, ast.FunctionDef) and n.name == name)
            for s in (to_python(source), master_source)
        )
        docstring = ast.get_docstring(master_function)
        assert docstring, f"{name} has no docstring"
        assert ast.get_docstring(student_function) == docstring
        comments = [line for line in outside if line.strip().startswith("#")]
        assert [line for line in source.split("\n") if line.strip().startswith("#")] == comments, name
        code_lines = [line for line in source.split("\n") if is_code(line) and line.strip() != PLACEHOLDER]
        assert code_lines == [line for line in outside if is_code(line)], name
    assert "    # X_pad = None" in student_cell(release, "# GRADED FUNCTION: zero_pad").split("\n")


def test_release_code_cells_compile_and_instructor_cells_are_gone(master: nbformat.NotebookNode,
                                                                   release: nbformat.NotebookNode) -> None:
    for number, cell in enumerate(release.cells, 1):
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None
        if cell.cell_type == "code":
            compile(to_python(cell.source), f"release cell {number}", "exec")
    instructor = [c.source for c in master.cells if "instructor-only" in c.metadata.get("tags", [])]
    assert len(release.cells) == len(master.cells) - len(instructor)
    assert not set(instructor) & {c.source for c in release.cells}


def test_check_reports_files_that_are_not_part_of_the_release(course: Path, cli) -> None:
    release = course / "assignments" / NAME
    assert cli("generate", NAME, cwd=course).returncode == 0
    (release / "hidden_tests.py").write_text("leaked")
    (release / "__pycache__").mkdir()
    result = cli("generate", NAME, "--check", cwd=course)
    assert result.returncode == 1
    assert result.stdout.strip() == f"out of date: {release / 'hidden_tests.py'} is not part of the release"
