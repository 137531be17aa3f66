"""Extraction: real notebooks' quirks cost at most the cell they are in, and nothing is executed."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from grader.errors import NotebookError
from grader.grading import extract
from grader.grading.extract import (
    MAX_CELL_CHARS,
    MAX_CODE_CHARS,
    chunk_labels,
    cite_cells,
    extract_bounded,
    extract_cells,
    extract_submission,
    redefined,
    to_python,
)
from grader.model import Submission
from grader.notebooks import read_notebook
from tests.conftest import write_notebook


def names(cells: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    chunks, _, _ = extract_cells(list(enumerate(cells, 1)))
    return [(c.kind, c.names) for c in chunks]


def test_keeps_imports_definitions_and_the_constants_they_read() -> None:
    found = names([
        "import numpy as np\nimport matplotlib.pyplot as plt\nnp.random.seed(1)\nEPS = 1e-8\nUNUSED = 3\nx = np.ones(3)",
        "def f(a):\n    return np.asarray(a) + EPS\nprint(f(x))\nZ = f(x)",
        "class Helper:\n    pass",
    ])
    assert found == [("import", ("np",)), ("assign", ("EPS",)), ("def", ("f",)), ("def", ("Helper",))]


def test_a_call_of_a_notebook_function_that_sets_what_a_graded_one_reads_is_kept() -> None:
    """``register("max", np.max)`` fills POOLING, ``setup()`` sets through ``configure()`` what it declares global:
    the graded function reads both, so the calls load (they lost 40 points in the style pass); a call that sets only
    what nothing graded reads, and a test call, are still dropped."""
    cells = [
        "import numpy as np\nPOOLING = {}\ndef register(name, fn):\n    POOLING[name] = fn\nregister('max', np.max)",
        "def configure():\n    global PAD\n    PAD = 'constant'\ndef setup():\n    configure()\nsetup()",
        "LOG = []\ndef note(x):\n    LOG.append(x)\nnote(1)",
        "def pool(A, mode):\n    return POOLING[mode](A) if PAD else None\npool(np.ones(3), 'max')",
    ]
    chunks, _, _ = extract_cells(list(enumerate(cells, 1)), ["pool"])
    kept = [(c.kind, c.names, c.code.strip()) for c in chunks if c.kind != "def"]
    assert kept == [("import", ("np",), "import numpy as np"), ("assign", ("POOLING",), "POOLING = {}"),
                    ("assign", ("POOLING",), "register('max', np.max)"), ("assign", ("PAD",), "setup()")]


def test_constants_that_depend_on_constants_are_kept() -> None:
    assert ("assign", ("BASE",)) in names(["BASE = 2\nSCALE = BASE * 3", "def f():\n    return SCALE"])


def test_magics_shell_lines_and_automagics_become_python() -> None:
    source = "%matplotlib inline\n!pip install numpy\ncd ..\nls\ndef f():\n    return 1\nf?"
    assert to_python(source).count("get_ipython()") == 5
    assert to_python("ls = [1]\ncd += 1\ntime.sleep(1)") == "ls = [1]\ncd += 1\ntime.sleep(1)"
    assert names([source]) == [("def", ("f",))]


def test_python_cell_magics_keep_their_body_and_others_are_ignored() -> None:
    assert names(["%%time\ndef f():\n    return 1\nf()"]) == [("def", ("f",))]
    assert names(["%%bash\ndef f():\n    echo not python"]) == []


def test_windows_line_endings_and_non_breaking_spaces() -> None:
    assert names(["def f(x):\r\n    return x\u00a0+ 1\r\n"]) == [("def", ("f",))]


def test_a_cell_that_does_not_parse_costs_only_that_cell() -> None:
    chunks, notes, unparsed = extract_cells([(1, "def good():\n    return 1"), (2, "def bad(:\n    pass"), (3, "def also():\n    pass")])
    assert [c.names for c in chunks] == [("good",), ("also",)]
    assert notes == ("the cell that defines `bad` could not be read, so nothing in it was graded: it is not valid "
                     "Python (invalid syntax, line 1 of the cell):\n    def bad(:\n            ^",)
    assert unparsed == (("bad", notes[0]),)


# Cells are cited as a student finds them (issue 14, point 6): Jupyter shows no cell numbers, and a count that
# includes Markdown cells matches nothing on screen.

def test_a_syntax_error_names_the_cell_and_points_at_the_line() -> None:
    cell = "# GRADED FUNCTION: conv_forward\nimport numpy as np\ndef conv_forward(A):\n\tfor h in range(3)\n\t\tpass\n"
    _, (note,), _ = extract_cells([(41, cell)])
    head, line, caret = note.split("\n")
    assert head.startswith("the cell that defines `conv_forward` could not be read") and "line 4 of the cell" in head
    assert line == "        for h in range(3)" and caret.index("^") == len(line)  # the tab expanded, the caret after ')'
    assert "41" not in note
    _, (plain,), _ = extract_cells([(3, "\n\nx = [1, 2,\ny = `3`")])
    assert plain.startswith("the cell starting `x = [1, 2,` could not be read")


def test_a_long_first_line_is_cut_and_a_long_bad_line_is_shown_around_the_error() -> None:
    long = "y = " + " + ".join(["value"] * 100) + " +"
    _, (note,), _ = extract_cells([(1, long)])
    head, line, caret = note.split("\n")
    assert "…`" in head and len(head.split("`")[1]) <= 60
    assert len(line) <= 106 and line.rstrip().endswith("+") and caret.index("^") <= len(line)
    assert line.startswith("    …")  # cut at the start: the error is near the end


def test_traceback_lines_name_the_cell_by_the_function_it_defines() -> None:
    chunks, _, _ = extract_cells([(5, "import numpy as np\n\nSCALE = np.sqrt(2)"),
                                  (9, "def helper(x):\n    return x[0] * SCALE\n\ndef zero_pad(X, pad):\n    return helper(X)")])
    labels = chunk_labels(chunks, ["zero_pad"])
    assert labels == {5: "the cell with `import numpy as np`", 9: "the cell that defines `zero_pad`"}
    traceback = ('  File "cell 9", line 5, in zero_pad\n    return helper(X)\n  File "cell 9", line 2, in helper\n'
                 '    return x[0] * SCALE\nIndexError: index 0 is out of bounds  File "cell 12", line 1')
    cited = cite_cells(traceback, labels)
    assert cited.startswith("  In the cell that defines `zero_pad`, line 5, in zero_pad\n")
    assert "  In the cell that defines `zero_pad`, line 2, in helper\n" in cited
    assert cited.endswith('File "cell 12", line 1')  # no label known: left as it was
    assert cite_cells("loading cell 5: NameError: x", labels) == "loading the cell with `import numpy as np`: NameError: x"


def test_a_graded_function_defined_in_two_cells_is_warned_about() -> None:
    chunks, _, _ = extract_cells([(2, "def zero_pad(X, pad):\n    return X"), (4, "def helper():\n    pass"),
                                  (6, "def helper():\n    pass"), (8, "def zero_pad(X, pad):\n    return X + 1")])
    assert redefined(chunks, ["zero_pad"]) == ["`zero_pad` is defined in two cells; the last one is graded. Search the "
                                               "notebook for `def zero_pad` and keep only the version you mean."]
    assert redefined(chunks[:2], ["zero_pad"]) == []


def test_line_numbers_match_the_cell() -> None:
    chunks, _, _ = extract_cells([(7, "x = 1\n\n\ndef f():\n    return 1")])
    (chunk,) = [c for c in chunks if c.kind == "def"]
    assert (chunk.cell, chunk.line) == (7, 4)
    assert compile(chunk.code, "cell 7", "exec").co_firstlineno == 1
    assert chunk.code.split("\n")[3] == "def f():"


def test_the_last_definition_wins_in_notebook_order() -> None:
    chunks, _, _ = extract_cells([(1, "def f():\n    return 1"), (2, "def f():\n    return 2")])
    namespace: dict = {}
    for chunk in chunks:
        exec(compile(chunk.code, f"cell {chunk.cell}", "exec"), namespace)
    assert namespace["f"]() == 2


def test_nothing_is_executed(tmp_path: Path) -> None:
    """Every statement below writes its own marker file if it runs, including the kept ones (a default value,
    a decorator and a class body run when their definition does), in process and in the bounded child."""
    marker = {name: str(tmp_path / name) for name in ("call", "assign", "default", "decorator", "class_body", "magic")}
    cells = [
        f"open({marker['call']!r}, 'w').close()\nx = open({marker['assign']!r}, 'w').close()",
        f"def f(x=open({marker['default']!r}, 'w').close()):\n    return x",
        f"@(lambda function: open({marker['decorator']!r}, 'w').close() or function)\ndef g():\n    return 1",
        f"class Helper:\n    open({marker['class_body']!r}, 'w').close()",
        f"%time open({marker['magic']!r}, 'w').close()",
    ]
    path = write_notebook(tmp_path / "side_effects.ipynb", *cells)
    assert {c.names for c in extract_submission(path).chunks} == {("f",), ("g",), ("Helper",)}
    assert {c.names for c in extract_bounded(path).chunks} == {("f",), ("g",), ("Helper",)}
    assert sorted(name for name, file in marker.items() if Path(file).exists()) == []
    namespace: dict = {}
    for chunk in extract_submission(path).chunks:  # the markers do work: loading the kept chunks writes three
        exec(compile(chunk.code, f"cell {chunk.cell}", "exec"), namespace)
    assert sorted(name for name, file in marker.items() if Path(file).exists()) == ["class_body", "decorator", "default"]


def test_v3_notebooks_are_converted(tmp_path: Path) -> None:
    v3 = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[nbformat.v3.new_code_cell("def f():\n    return 3")])])
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.writes(v3, version=3))
    assert [c.names for c in extract_submission(path).chunks] == [("f",)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not text"),
        (b"{ not json", "not valid JSON"),
        (b"[1, 2, 3]", "not a Jupyter notebook"),
        (b'{"cells": [], "metadata": {}}', "not a Jupyter notebook"),
    ],
)
def test_unreadable_files_raise_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError, match=message):
        read_notebook(path)


# Cells as students write them, with the IPython line forms the grader reads itself.
IPYTHON_CELLS = [
    "%matplotlib inline\nimport numpy as np\n!pip install tqdm\nfiles = !ls\nwhere = %pwd\nnp.pad?\n??np.zeros\nnp.*pad*?",
    "def f(x):\n    !echo inside\n    %time y = x\n    return x\n\ndef g():\n    np.pad??\n    return 2",
    "import numpy as np\nclass Model:\n    def fit(self):\n        %time pass\n        return self\n!!date\na, b = !ls",
    "x = 1 \\\n    + 2\nif x:\n    %ls\nelse:\n    !ls\ndef h():\n    return x",
]


# Code pasted into a cell as Jupyter runs it: indented as a whole, or with a console's prompts.
PASTED_CELLS = [
    "    def helper(x):\n        return x + 1\n\n    LIMIT = 3",
    "\n  x = 1\n  if x:\n      y = 2",
    ">>> def f(x):\n...     return x * 2\n>>> f(2)",
    "In [4]: def f(x):\n   ...:     return x * 2\n   ...: ",
]


@pytest.mark.parametrize("cell", PASTED_CELLS)
def test_pasted_code_reads_as_ipython_reads_it(cell: str) -> None:
    from IPython.core.inputtransformer2 import TransformerManager

    ours = to_python(cell)
    assert ours.count("\n") == cell.count("\n")  # line numbers kept
    assert ast.dump(ast.parse(ours)) == ast.dump(ast.parse(TransformerManager().transform_cell(cell)))


@pytest.mark.parametrize("cell", IPYTHON_CELLS)
def test_magic_lines_keep_their_line_and_indentation_and_match_ipython(cell: str) -> None:
    from IPython.core.inputtransformer2 import TransformerManager

    ours = to_python(cell)
    assert [len(line) - len(line.lstrip()) for line in ours.split("\n")] == \
        [len(line) - len(line.lstrip()) for line in cell.split("\n")]
    theirs = TransformerManager().transform_cell(cell)
    assert ast.dump(ast.parse(ours)) == ast.dump(ast.parse(theirs))


def test_a_magic_inside_a_def_still_parses_and_the_def_is_kept() -> None:
    chunks, notes, _ = extract_cells([(1, "def f(x):\n    !ls\n    y = !ls\n    %time z = x\n    x?\n    return x")])
    assert notes == () and [c.names for c in chunks] == [("f",)]
    assert chunks[0].code.split("\n")[1] == "    get_ipython().system('ls')"


def test_only_lines_that_start_a_statement_are_read_as_ipython() -> None:
    docstring = 'def f():\n    """What does it return?\n!not a shell line\n    %not a magic\n    """\n    return 1'
    assert to_python(docstring) == docstring
    brackets = "x = (1,\n     !2)\ny = 3 \\\n    % 2\ns = 'it is # not a comment'  # where?\n# what is this?"
    assert to_python(brackets) == brackets


def test_a_magic_continued_by_backslashes_leaves_blank_lines() -> None:
    assert to_python("!ls \\\n  -la \\\n  /tmp\ndef f():\n    return 1").split("\n")[1:] == ["", "", "def f():", "    return 1"]


def test_hundreds_of_shell_lines_and_newlines_are_plain_lines() -> None:
    shell = to_python("\n".join(["!ls"] * 499))
    assert shell.count("\n") == 498 and shell.count("get_ipython().system('ls')") == 499
    assert names(["x = 1" + "\n" * 40000, "def f():\n    return x"]) == [("assign", ("x",)), ("def", ("f",))]


def test_a_cell_too_long_is_skipped_with_a_note_naming_it() -> None:
    big = "def huge():\n    return [" + "1, " * (MAX_CELL_CHARS // 3) + "]"
    chunks, notes, unparsed = extract_cells([(1, "def f():\n    return 1"), (2, big)])
    assert [c.names for c in chunks] == [("f",)]
    assert notes == (f"cell 2 was skipped: it has {len(big):,} characters, more than the {MAX_CELL_CHARS:,} a code cell "
                     "may have (is it data pasted into the notebook?).",)
    assert unparsed == (("huge", notes[0]),)


def test_too_much_code_in_all_refuses_the_notebook() -> None:
    cell = "x = 1\n" * (MAX_CELL_CHARS // 6)
    cells = list(enumerate([cell] * (MAX_CODE_CHARS // len(cell) + 1), 1))
    with pytest.raises(NotebookError, match="characters of code, more than the 2,000,000"):
        extract_cells(cells)


def test_thousands_of_definitions_in_a_long_cell_refuse_the_notebook() -> None:
    cell = "\n".join(f"def f{i}(): 0" for i in range(MAX_CELL_CHARS // 16))
    with pytest.raises(NotebookError, match="too many definitions to load"):
        extract_cells([(number, cell) for number in range(1, 10)])


def test_a_link_a_fifo_and_a_folder_are_not_regular_files(tmp_path: Path) -> None:
    real = write_notebook(tmp_path / "real.ipynb", "def f():\n    return 1")
    (tmp_path / "link.ipynb").symlink_to(real)
    os.mkfifo(tmp_path / "fifo.ipynb")
    for name, kind in [("link.ipynb", "a symbolic link"), ("fifo.ipynb", "a FIFO"), (".", "a directory")]:
        with pytest.raises(NotebookError, match=rf"^not a regular file \({kind}\)"):
            read_notebook(tmp_path / name)
    with pytest.raises(NotebookError, match="not a regular file"):
        read_notebook(Path("/dev/null"))
    assert [c.names for c in extract_submission(real).chunks] == [("f",)]


def test_a_file_above_the_size_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_notebook(tmp_path / "x.ipynb", "def f():\n    return 1")
    monkeypatch.setattr("grader.notebooks.MAX_NOTEBOOK_BYTES", path.stat().st_size - 1)
    with pytest.raises(NotebookError, match="the file is larger than"):
        read_notebook(path)


def test_bounded_extraction_gives_what_extraction_in_process_gives(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "x.ipynb", "import numpy as np\nEPS = 1e-8", "def f(x):\n    return x + EPS",
                          "def broken(:\n    pass", "!ls")
    assert extract_bounded(path) == extract_submission(path)
    (tmp_path / "empty.ipynb").write_bytes(b"")
    with pytest.raises(NotebookError, match="the file is empty"):
        extract_bounded(tmp_path / "empty.ipynb")


def test_bounded_extraction_stops_a_stall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_notebook(tmp_path / "x.ipynb", "def f():\n    return 1")
    monkeypatch.setattr(extract, "extract_submission", lambda *_: time.sleep(60))  # only the forked child runs it
    with pytest.raises(NotebookError, match=r"took longer than 0.5 s"):
        extract_bounded(path, seconds=0.5)


def test_bounded_extraction_stops_at_its_memory_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_notebook(tmp_path / "x.ipynb", "def f():\n    return 1")
    monkeypatch.setattr(extract, "extract_submission", lambda *_: bytearray(400 * 1024 * 1024))
    with pytest.raises(NotebookError, match="needed more than 200 MB"):
        extract_bounded(path, memory_mb=200)


@pytest.mark.parametrize("bad", [
    {"path": "x", "chunks": [], "notes": [], "unparsed": [], "extra": 1},
    {"path": "x", "chunks": [{"cell": "1", "line": 1, "kind": "def", "names": [], "code": "", "modules": []}], "notes": [],
     "unparsed": []},
    {"path": "x", "chunks": [{"cell": True, "line": 1, "kind": "def", "names": [], "code": "", "modules": []}], "notes": [],
     "unparsed": []},
    {"path": "x", "chunks": [], "notes": [3], "unparsed": []},
    {"path": "x", "chunks": [], "notes": [], "unparsed": [["f", "why", "more"]]},
])
def test_the_childs_answer_is_checked_field_by_field(bad: dict) -> None:
    with pytest.raises(ValueError):
        extract._typed(bad, Submission)


def test_a_well_formed_answer_round_trips() -> None:
    chunks, notes, unparsed = extract_cells([(1, "def f():\n    return 1"), (2, "def g(:")])
    submission = Submission("x", chunks, notes, unparsed)
    assert extract._typed(json.loads(json.dumps(dataclasses.asdict(submission))), Submission) == submission


def test_a_cell_named_by_a_huge_function_name_keeps_messages_bounded() -> None:
    """A label replaces each `File "cell N", line M` of a sandbox message (capped at 8 KB there): a 190,000-character
    function name must not turn one message into tens of megabytes in the grader."""
    name = "f" * 190_000
    chunks, _, _ = extract_cells([(3, f"def {name}():\n    return 1\n")])
    message = 'File "cell 3", line 1\n' * 370  # about 8 KB, as the sandbox caps it
    cited = cite_cells(message, chunk_labels(chunks))
    assert len(cited) < 10 * len(message) and "fff" in cited  # unbounded, it was about 8,600 times longer
    assert len(extract.cell_label(f"def {name}(:\n")) < 100


# Statements a definition needs, as students write them (a red-team pass over real styles: each lost points before,
# with a NameError, a KeyError or an IndexError, though the notebook ran top to bottom in Jupyter).
NEEDED_STATEMENTS = {
    "a lambda helper": (["out_size = lambda n, f: n - f + 1", "def g(n):\n    return out_size(n, 2)"], (5,), 4),
    "a global counter": (["n_calls = 0", "def g(x):\n    global n_calls\n    n_calls += 1\n    return x + n_calls"], (3,), 4),
    "a partial": (["from functools import partial", "def size(n, f, pad):\n    return n + 2 * pad - f + 1",
                   "size0 = partial(size, pad=0)", "def g(n):\n    return size0(n, 2)"], (5,), 4),
    "a dict filled item by item": (["import math", "POOLS = {}\nPOOLS['max'] = max\nPOOLS['floor'] = math.floor",
                                    "def g(x, mode):\n    return POOLS[mode](x)"], ([1, 3], "max"), 3),
    "a list filled by a loop": (["MODES = []\nfor m in ('max', 'average'):\n    MODES.append(m)",
                                 "def g(i):\n    return MODES[i]"], (1,), "average"),
    "a helper object": (["class Helper:\n    def step(self, x):\n        return x + 1", "helper = Helper()",
                         "def g(x):\n    return helper.step(x)"], (1,), 2),
    "a graded function made by a factory": (["def make():\n    def g(x):\n        return x * 2\n    return g", "g = make()"],
                                            (2,), 4),
    "a walrus": (["TWO = (one := 1) + 1", "def g():\n    return TWO + one"], (), 3),
    "a def inside an if": (["if True:\n    def helper(x):\n        return -x", "def g(x):\n    return helper(x)"], (2,), -2),
    "a fallback in try": (["try:\n    from math import isqrt as root\nexcept ImportError:\n    def root(x):\n        return 0",
                           "def g(x):\n    return root(x)"], (10,), 3),
    "a flag set in try": (["try:\n    import no_such_module_here\n    FAST = True\nexcept ImportError:\n    FAST = False",
                           "def g(x):\n    return x if FAST else -x"], (1,), -1),
}


@pytest.mark.parametrize("case", NEEDED_STATEMENTS)
def test_statements_a_definition_needs_are_kept(case: str) -> None:
    cells, args, expected = NEEDED_STATEMENTS[case]
    exploration = ["y = g(*ARGS)\nprint(y)", "import matplotlib.pyplot as plt\nplt.plot([1])\nplt.show()"]
    chunks, _, _ = extract_cells(list(enumerate([*cells, *exploration], 1)), wanted=("g",))
    assert all(chunk.cell <= len(cells) for chunk in chunks), [c.code for c in chunks]  # exploration: not loaded
    namespace: dict = {}
    for chunk in chunks:
        exec(compile(chunk.code, f"cell {chunk.cell}", "exec"), namespace)
    assert namespace["g"](*args) == expected


def test_a_name_a_function_only_takes_as_a_parameter_keeps_no_exploration() -> None:
    """``shape`` is distribute_value's parameter, not a global it reads: ``shape = a.shape`` of an exploration cell
    is not loaded (it failed to load, ``a`` being dropped, and the student got a note about a notebook that ran)."""
    cells = ["def distribute_value(dz, shape):\n    return [dz / 4] * shape[0]",
             "a = distribute_value(2, (2, 2))\nshape = (len(a), 2)\nfor i in range(3):\n    shape = shape + (i,)"]
    assert names(cells) == [("def", ("distribute_value",))]


def test_what_only_an_ungraded_function_reads_is_not_loaded() -> None:
    """A training run whose results only a plotting helper reads took the load past its time limit: every graded
    function failed (a red-team pass over Optimization Methods notebooks). Only what graded functions reach counts."""
    cells = ["def helper(x):\n    return x + 1", "def g(x):\n    return helper(x) * SCALE", "SCALE = 2",
             "results = {}\nfor run in range(3):\n    results[run] = g(run)", "def best():\n    return min(results)"]
    kept = sorted({c.cell for c in extract_cells(list(enumerate(cells, 1)), wanted=("g",))[0]})
    assert kept == [1, 2, 3, 5]  # the definitions, and SCALE; not the runs only best() reads
    everything = sorted({c.cell for c in extract_cells(list(enumerate(cells, 1)))[0]})
    assert everything == [1, 2, 3, 4, 5]  # nothing graded named: what any definition reads


def test_what_any_definition_needs_to_load_is_kept() -> None:
    """Every definition is loaded, graded or not: what runs as it is defined (a class body, a default, an annotation,
    a decorator) needs its imports, or the notebook gets a load error it never had in Jupyter."""
    cells = ["import json\nimport math\nimport functools\nimport os", "class Config:\n    text = json.dumps(1)",
             "@functools.cache\ndef helper(x: math.pi = math.e):\n    return os.sep", "def g():\n    return 1"]
    chunks = extract_cells(list(enumerate(cells, 1)), wanted=("g",))[0]
    assert {name for c in chunks if c.kind == "import" for name in c.names} == {"json", "math", "functools"}
    namespace: dict = {}
    for chunk in chunks:
        exec(compile(chunk.code, f"cell {chunk.cell}", "exec", dont_inherit=True), namespace)
    assert namespace["Config"].text == "1" and namespace["g"]() == 1


def test_a_graded_name_rebound_to_its_own_result_keeps_the_function() -> None:
    """``g = g(3)`` in a last cell ran after the tests in Jupyter; loaded, it left ``g`` a number (points lost)."""
    cells = ["def g(x):\n    return x + 1", "g = g(3)\nprint(g)", "def make():\n    return lambda x: x", "h = make()"]
    kept = [c.code.strip() for c in extract_cells(list(enumerate(cells, 1)), wanted=("g", "h"))[0]]
    assert kept == ["def g(x):\n    return x + 1", "def make():\n    return lambda x: x", "h = make()"]


def test_a_star_import_of_the_public_tests_still_gives_their_imports() -> None:
    """``from public_tests import *`` brought ``np`` in Jupyter: a notebook without its own ``import numpy as np``
    lost every function when the (sandbox-less) test module's import was dropped."""
    from grader.config import load_assignment
    from grader.grading.extract import allowed_chunks

    assignment = load_assignment("cnn_step_by_step")
    cells = ["from public_tests import *", "def zero_pad(X, pad):\n    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))"]
    chunks, _, _ = extract_cells(list(enumerate(cells, 1)), wanted=assignment.graded)
    kept = allowed_chunks(Submission("x.ipynb", chunks, ()), assignment).chunks
    assert "np" in kept[0].names and "public_tests" not in kept[0].code and "grader_checks" not in kept[0].code
    namespace: dict = {}
    for chunk in kept:
        exec(compile(chunk.code, f"cell {chunk.cell}", "exec"), namespace)
    assert namespace["zero_pad"](namespace["np"].ones((1, 1, 1, 1)), 1).shape == (1, 3, 3, 1)
