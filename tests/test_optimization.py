"""The second assignment, "Optimization Methods": the reference passes its own public, hidden and sweep checks
under several seeds; every known mistake is shown by a submission that makes it and named in its feedback;
correct code in other styles (dict comprehensions, float32 answers) passes everything and is never told it made
a mistake. The submissions are graded through the real CLI, in one batch."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from types import ModuleType, SimpleNamespace

import pytest

from grader.checks import CheckFailed
from grader.config import Assignment, load_assignment
from grader.grading.suite import load_reference, load_suite
from tests.conftest import ROOT, load_module, master_source, run_cli, sandbox_mode, write_notebook

NAME = "optimization_methods"
SOLUTIONS = ROOT / "solutions" / NAME
SEEDS = [0, 2026, 2**64 - 1]


@pytest.fixture(scope="module")
def assignment() -> Assignment:
    return load_assignment(NAME, ROOT)


@pytest.fixture(scope="module")
def reference(assignment: Assignment) -> SimpleNamespace:
    return load_reference(assignment)


@pytest.fixture(scope="module")
def hidden() -> ModuleType:
    return load_module(SOLUTIONS / "hidden_tests.py", "optimization_hidden_under_test")


def test_the_reference_passes_its_public_tests(assignment: Assignment, reference: SimpleNamespace) -> None:
    public = load_module(SOLUTIONS / "public_tests.py", "optimization_public_under_test")
    for function in assignment.functions:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            getattr(public, f"{function.name}_test")(getattr(reference, function.name))
        assert "All tests passed" in out.getvalue()


@pytest.mark.parametrize("seed", SEEDS)
def test_the_reference_passes_every_hidden_and_sweep_case(hidden: ModuleType, reference: SimpleNamespace, seed: int) -> None:
    for case in [*hidden.cases(reference, seed), *hidden.sweep(reference, seed, count=10)]:
        case.run(getattr(reference, case.function))


def test_every_seed_meets_the_same_checks(hidden: ModuleType, reference: SimpleNamespace, assignment: Assignment) -> None:
    listed = [[(c.function, c.name, c.params) for c in hidden.cases(reference, seed)] for seed in SEEDS]
    assert listed[0] == listed[1] == listed[2]
    assert {function for function, _, _ in listed[0]} == {f.name for f in assignment.functions}


def test_the_hidden_inputs_depend_on_the_seed(hidden: ModuleType, reference: SimpleNamespace) -> None:
    """A recorded answer from one seed fails under another: the checks are not a fixed oracle."""
    answers = {}

    def recorder(case_name: str):
        def record(*args, **kwargs):
            answers.setdefault(case_name, reference.update_lr(*args, **kwargs))
            return answers[case_name]
        return record

    for case in hidden.cases(reference, SEEDS[0]):
        if case.function == "update_lr" and case.params != "epoch_num = 7, decay_rate = 0.0":
            case.run(recorder(case.name))
    replayed = 0
    for case in hidden.cases(reference, SEEDS[1]):
        if case.name in answers:
            with pytest.raises(CheckFailed):
                case.run(lambda *a, name=case.name, **k: answers[name])
            replayed += 1
    assert replayed >= 4


def test_the_suite_loads_with_its_catalogue(assignment: Assignment) -> None:
    suite = load_suite(assignment)
    assert len(suite.hidden) == 55
    assert set(suite.public) == {f.name for f in assignment.functions}
    assert {m.id for m in suite.mistakes} == {mistake_id for _, _, mistake_id in MISTAKEN.values()}


ADAM = """import numpy as np
def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8):
    L = len(parameters) // 2
    new_parameters, new_v, new_s, v_corrected, s_corrected = {}, {}, {}, {}, {}
    for l in range(1, L + 1):
        for p in ("W", "b"):
            key = "d" + p + str(l)
            new_v[key] = V_KEEP * v[key] + V_TAKE * grads[key]
            new_s[key] = beta2 * s[key] + (1 - beta2) * grads[key] ** 2
            v_corrected[key] = new_v[key] / (1 - beta1 ** STEP)
            s_corrected[key] = new_s[key] / (1 - beta2 ** STEP)
            new_parameters[p + str(l)] = parameters[p + str(l)] - learning_rate * v_corrected[key] / ROOT
    return new_parameters, new_v, new_s, v_corrected, s_corrected
"""


def adam(keep: str = "beta1", take: str = "(1 - beta1)", step: str = "t",
         root: str = "(np.sqrt(s_corrected[key]) + epsilon)") -> str:
    return ADAM.replace("V_KEEP", keep).replace("V_TAKE", take).replace("STEP", step).replace("ROOT", root)


ADAM_UNCORRECTED = adam().replace("new_v[key] / (1 - beta1 ** t)", "new_v[key]").replace("new_s[key] / (1 - beta2 ** t)", "new_s[key]")
ADAM_SHALLOW = """import numpy as np
def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8):
    new_v, new_s = v.copy(), s.copy()
    new_parameters, v_corrected, s_corrected = {}, {}, {}
    for key, g in grads.items():
        new_v[key] *= beta1
        new_v[key] += (1 - beta1) * g
        new_s[key] *= beta2
        new_s[key] += (1 - beta2) * g ** 2
        v_corrected[key] = new_v[key] / (1 - beta1 ** t)
        s_corrected[key] = new_s[key] / (1 - beta2 ** t)
        new_parameters[key[1:]] = parameters[key[1:]] - learning_rate * v_corrected[key] / (np.sqrt(s_corrected[key]) + epsilon)
    return new_parameters, new_v, new_s, v_corrected, s_corrected
"""
MINI_BATCHES = """import numpy as np
def random_mini_batches(X, Y, mini_batch_size=64, seed=0):
    m = X.shape[1]
    rng = np.random.default_rng(seed)
    shuffled_X = X[:, rng.permutation(m)]
    shuffled_Y = Y[:, SECOND]
    mini_batches = []
    for k in range(m // mini_batch_size):
        mini_batches.append((shuffled_X[:, k * mini_batch_size:(k + 1) * mini_batch_size],
                             shuffled_Y[:, k * mini_batch_size:(k + 1) * mini_batch_size]))
    rest = m % mini_batch_size
    if rest:
        LAST
    return mini_batches
"""
KEEP_LAST = "mini_batches.append((shuffled_X[:, m - rest:], shuffled_Y[:, m - rest:]))"
PAD_LAST = ("pad = ((0, 0), (0, mini_batch_size - rest))\n"
            "        mini_batches.append((np.pad(shuffled_X[:, m - rest:], pad), np.pad(shuffled_Y[:, m - rest:], pad)))")
SAME_ORDER = "np.random.default_rng(seed).permutation(m)"


def mini_batches(second: str = SAME_ORDER, last: str = KEEP_LAST) -> str:
    return MINI_BATCHES.replace("SECOND", second).replace("LAST", last)


MOMENTUM = """import numpy as np
def update_parameters_with_momentum(parameters, grads, v, beta, learning_rate):
    new_parameters, new_v = {}, {}
    for l in range(1, len(parameters) // 2 + 1):
        for p in ("W", "b"):
            new_v["d" + p + str(l)] = KEEP * v["d" + p + str(l)] + TAKE * grads["d" + p + str(l)]
            new_parameters[p + str(l)] = parameters[p + str(l)] - learning_rate * new_v["d" + p + str(l)]
    return new_parameters, new_v
"""
MOMENTUM_INTO_INPUTS = """import numpy as np
def update_parameters_with_momentum(parameters, grads, v, beta, learning_rate):
    for l in range(1, len(parameters) // 2 + 1):
        for p in ("W", "b"):
            v["d" + p + str(l)] = beta * v["d" + p + str(l)] + (1 - beta) * grads["d" + p + str(l)]
            parameters[p + str(l)] = parameters[p + str(l)] - learning_rate * v["d" + p + str(l)]
    return parameters, v
"""
GD_INTO_INPUT = """def update_parameters_with_gd(parameters, grads, learning_rate):
    for l in range(1, len(parameters) // 2 + 1):
        parameters["W" + str(l)] = parameters["W" + str(l)] - learning_rate * grads["dW" + str(l)]
        parameters["b" + str(l)] = parameters["b" + str(l)] - learning_rate * grads["db" + str(l)]
    return parameters
"""
GD_SHALLOW = """def update_parameters_with_gd(parameters, grads, learning_rate):
    new_parameters = parameters.copy()
    for l in range(1, len(parameters) // 2 + 1):
        new_parameters["W" + str(l)] -= learning_rate * grads["dW" + str(l)]
        new_parameters["b" + str(l)] -= learning_rate * grads["db" + str(l)]
    return new_parameters
"""


def lr(formula: str) -> str:
    return f"def update_lr(learning_rate0, epoch_num, decay_rate):\n    return {formula}\n"


def schedule(formula: str) -> str:
    return ("import numpy as np\ndef schedule_lr_decay(learning_rate0, epoch_num, decay_rate, time_interval=1000):\n"
            f"    return {formula}\n")


# submission → (the function it replaces, its code, the mistake id the feedback must name)
MISTAKEN = {
    "adam_no_bias_correction": ("update_parameters_with_adam", ADAM_UNCORRECTED, "adam-no-bias-correction"),
    "adam_t_plus_one": ("update_parameters_with_adam", adam(step="(t + 1)"), "adam-t-off-by-one"),
    "adam_epsilon_inside": ("update_parameters_with_adam", adam(root="np.sqrt(s_corrected[key] + epsilon)"),
                            "adam-epsilon-inside-sqrt"),
    "adam_beta_swapped": ("update_parameters_with_adam", adam(keep="(1 - beta1)", take="beta1"), "beta-swapped"),
    "momentum_beta_swapped": ("update_parameters_with_momentum",
                              MOMENTUM.replace("KEEP", "(1 - beta)").replace("TAKE", "beta"), "beta-swapped"),
    "two_permutations": ("random_mini_batches", mini_batches(second="rng.permutation(m)"), "mini-batch-permutations-differ"),
    "last_batch_dropped": ("random_mini_batches", mini_batches(last="pass"), "mini-batch-last-dropped"),
    "last_batch_padded": ("random_mini_batches", mini_batches(last=PAD_LAST), "mini-batch-last-padded"),
    "gd_into_input": ("update_parameters_with_gd", GD_INTO_INPUT, "input-dict-modified"),
    "momentum_into_inputs": ("update_parameters_with_momentum", MOMENTUM_INTO_INPUTS, "input-dict-modified"),
    "gd_shallow_copy": ("update_parameters_with_gd", GD_SHALLOW, "arrays-modified-in-place"),
    "adam_shallow_copy": ("update_parameters_with_adam", ADAM_SHALLOW, "arrays-modified-in-place"),
    "lr_inverted": ("update_lr", lr("learning_rate0 * (1 + decay_rate * epoch_num)"), "lr-decay-inverted"),
    "schedule_inverted": ("schedule_lr_decay", schedule("learning_rate0 * (1 + decay_rate * np.floor(epoch_num / time_interval))"),
                          "lr-decay-inverted"),
    "schedule_without_floor": ("schedule_lr_decay", schedule("learning_rate0 / (1 + decay_rate * epoch_num / time_interval)"),
                               "schedule-floor-missing"),
}

COMPREHENSIONS = {
    "update_parameters_with_gd": """def update_parameters_with_gd(parameters, grads, learning_rate):
    return {key: value - learning_rate * grads["d" + key] for key, value in parameters.items()}
""",
    "random_mini_batches": """import numpy as np
def random_mini_batches(X, Y, mini_batch_size=64, seed=0):
    order = np.random.default_rng(seed).permutation(X.shape[1])
    X, Y = X[:, order], Y[:, order]
    return [(X[:, i:i + mini_batch_size], Y[:, i:i + mini_batch_size]) for i in range(0, X.shape[1], mini_batch_size)]
""",
    "initialize_velocity": """import numpy as np
def initialize_velocity(parameters):
    return {"d" + key: np.zeros_like(value) for key, value in parameters.items()}
""",
    "update_parameters_with_momentum": """def update_parameters_with_momentum(parameters, grads, v, beta, learning_rate):
    new_v = {key: beta * v[key] + (1 - beta) * g for key, g in grads.items()}
    return {key: value - learning_rate * new_v["d" + key] for key, value in parameters.items()}, new_v
""",
    "initialize_adam": """import numpy as np
def initialize_adam(parameters):
    zeros = {"d" + key: np.zeros(value.shape) for key, value in parameters.items()}
    return zeros, {key: z.copy() for key, z in zeros.items()}
""",
    "update_parameters_with_adam": """import numpy as np
def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8):
    new_v = {k: beta1 * v[k] + (1 - beta1) * g for k, g in grads.items()}
    new_s = {k: beta2 * s[k] + (1 - beta2) * g * g for k, g in grads.items()}
    v_hat = {k: m / (1 - beta1 ** t) for k, m in new_v.items()}
    s_hat = {k: q / (1 - beta2 ** t) for k, q in new_s.items()}
    new_parameters = {k: w - learning_rate * v_hat["d" + k] / (np.sqrt(s_hat["d" + k]) + epsilon) for k, w in parameters.items()}
    return new_parameters, new_v, new_s, v_hat, s_hat
""",
    "update_lr": lr("learning_rate0 / (1.0 + decay_rate * epoch_num)"),
    "schedule_lr_decay": "import math\ndef schedule_lr_decay(learning_rate0, epoch_num, decay_rate, time_interval=1000):\n"
                         "    return learning_rate0 / (1 + decay_rate * math.floor(epoch_num / time_interval))\n",
}
FLOAT32 = {  # right answers computed, or returned, in single precision
    "update_parameters_with_gd": """import numpy as np
def update_parameters_with_gd(parameters, grads, learning_rate):
    return {k: (w - learning_rate * grads["d" + k]).astype(np.float32) for k, w in parameters.items()}
""",
    "update_parameters_with_momentum": """import numpy as np
def update_parameters_with_momentum(parameters, grads, v, beta, learning_rate):
    new_v = {k: np.float32(beta) * v[k].astype(np.float32) + np.float32(1 - beta) * g.astype(np.float32) for k, g in grads.items()}
    return {k: w.astype(np.float32) - np.float32(learning_rate) * new_v["d" + k] for k, w in parameters.items()}, new_v
""",
    "update_parameters_with_adam": COMPREHENSIONS["update_parameters_with_adam"].replace(
        "return new_parameters,",
        "new_parameters = {k: w.astype(np.float32) for k, w in new_parameters.items()}\n    return new_parameters,"),
    "update_lr": "import numpy as np\n" + lr("np.float32(learning_rate0 / (1 + decay_rate * epoch_num))"),
}
CORRECT_STYLES = {"comprehensions": COMPREHENSIONS, "float32_answers": FLOAT32}
EXAMPLES = ROOT / "examples" / "submissions" / NAME


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, assignment: Assignment) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("optimization")
    cells = master_source(assignment)
    paths = []
    for name, (function, code, _) in MISTAKEN.items():
        paths.append(write_notebook(folder / f"{name}.ipynb", "import numpy as np", *{**cells, function: code}.values()))
    for name, replaced in CORRECT_STYLES.items():
        paths.append(write_notebook(folder / f"{name}.ipynb", "import numpy as np", *{**cells, **replaced}.values()))
    for name, source in (("master", assignment.master_notebook), ("student_release", assignment.student_notebook)):
        paths.append(folder / f"{name}.ipynb")
        shutil.copy(source, paths[-1])
    paths += sorted(EXAMPLES.glob("*.ipynb"))
    out = folder / "out"
    run_cli("grade", NAME, *paths, "--out", out, "--jobs", "2", "--sandbox", sandbox_mode(), check=True)
    return {path.stem: json.loads((out / path.stem / "results.json").read_text()) for path in paths}


def _mistakes(report: dict) -> set[tuple[str, str]]:
    return {(m["function"], m["id"]) for m in report["extra_data"]["mistakes"]}


@pytest.mark.parametrize("name", MISTAKEN)
def test_the_mistake_is_named_where_it_was_made_and_nowhere_else(graded: dict, name: str) -> None:
    function, _, mistake_id = MISTAKEN[name]
    report = graded[name]
    assert _mistakes(report) == {(function, mistake_id)}
    failed = {t["extra_data"]["function"] for t in report["tests"] if t["status"] == "failed"}
    assert failed == {function}
    assert report["score"] == 100 - next(f.points for f in load_assignment(NAME, ROOT).functions if f.name == function)


@pytest.mark.parametrize("name", [*CORRECT_STYLES, "amara_full_marks", "master"])
def test_correct_code_in_any_style_passes_and_triggers_no_mistake(graded: dict, name: str) -> None:
    report = graded[name]
    assert report["score"] == 100
    assert all(t["status"] == "passed" for t in report["tests"])
    assert report["extra_data"]["mistakes"] == []


def test_the_examples_get_the_grades_their_code_deserves(graded: dict) -> None:
    partly = graded["ben_partly_right"]
    assert partly["score"] == 35
    assert _mistakes(partly) == {("update_parameters_with_gd", "arrays-modified-in-place"),
                                 ("random_mini_batches", "mini-batch-last-dropped"),
                                 ("update_parameters_with_adam", "adam-no-bias-correction"),
                                 ("schedule_lr_decay", "schedule-floor-missing")}
    broken = graded["chloe_broken"]
    assert broken["score"] == 75
    outcomes = {t["extra_data"]["function"]: t["extra_data"]["outcome"] for t in broken["tests"] if t["status"] == "failed"}
    assert outcomes == {"update_parameters_with_momentum": "missing", "update_lr": "error"}


def test_the_student_release_scores_zero_without_a_grader_error(graded: dict) -> None:
    assert graded["student_release"]["score"] == 0
    assert all(t["extra_data"]["outcome"] in ("wrong", "error") for t in graded["student_release"]["tests"])
    for report in graded.values():
        assert all(t["extra_data"]["outcome"] != "grader-error" for t in report["tests"])
