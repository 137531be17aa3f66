"""Public tests for "Optimization Methods".

Call each test with your function, e.g. ``update_lr_test(update_lr)``. It prints a green line when
everything checks out, or stops with a message naming the part that is wrong (for instance
``new_parameters["b2"] has 3 wrong values``, or ``v should be a dict``) and what was expected there.
The inputs are drawn from fixed seeds with NumPy's ``default_rng``, so they are the same on every run.
"""

import numpy as np

try:  # the course toolkit, when it is installed
    from grader.checks import call_unchanged, expect_like, passed
except ImportError:  # the copy shipped beside the student notebook
    from grader_checks import call_unchanged, expect_like, passed

LAYERS = [2, 3, 1]  # a network with 2 inputs, 3 hidden units and one output: W1 (3, 2), b1 (3, 1), W2 (1, 3), b2 (1, 1)


def _arrays(shapes, seed, low=None):
    """Random arrays of the given shapes (name → shape), from one generator; non-negative when ``low`` is 0."""
    rng = np.random.default_rng(seed)
    if low == 0:
        return {name: rng.random(shape) for name, shape in shapes.items()}
    return {name: rng.standard_normal(shape) for name, shape in shapes.items()}


def _shapes(prefix=""):
    shapes = {}
    for l in range(1, len(LAYERS)):
        shapes[prefix + "W" + str(l)] = (LAYERS[l], LAYERS[l - 1])
        shapes[prefix + "b" + str(l)] = (LAYERS[l], 1)
    return shapes


def _inputs():
    """parameters, grads, a velocity v and a squared-gradient average s (non-negative), all different."""
    return _arrays(_shapes(), 1), _arrays(_shapes("d"), 2), _arrays(_shapes("d"), 3), _arrays(_shapes("d"), 4, low=0)


def _array_dict(values):
    return {name: np.array(rows) for name, rows in values.items()}


GD_EXPECTED = {
    "W1": [[0.3266788539, 0.8738929876], [0.3717434305, -1.0590104933], [0.7253851284, 0.3319579852]],
    "b1": [[-0.5044109517], [0.5037374455], [0.3364513292]],
    "W2": [[0.3495147803, -0.0693345038, 0.5777686413]],
    "b2": [[-0.7035716966]],
}


def update_parameters_with_gd_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    parameters, grads, _, _ = _inputs()
    got = call_unchanged(target, "update_parameters_with_gd", parameters, grads, 0.1)
    expect_like("new_parameters", got, _array_dict(GD_EXPECTED))
    passed()


MINI_BATCH_PERMUTATIONS = {  # (m, seed) → np.random.default_rng(seed).permutation(m)
    (20, 3): [
        16, 12, 18, 8, 3, 13, 15, 10, 6, 1, 2, 11, 17, 0, 14, 9, 4, 7, 5, 19,
    ],
    (16, 1): [
        1, 12, 7, 10, 14, 4, 5, 8, 0, 9, 2, 13, 11, 6, 3, 15,
    ],
    (70, 0): [
        27, 60, 36, 46, 44, 4, 8, 34, 23, 50, 66, 64, 20, 63, 19, 16, 10, 42, 2, 28, 30, 53, 11, 17,
        67, 47, 18, 35, 3, 1, 61, 69, 24, 21, 0, 6, 22, 26, 37, 43, 51, 65, 15, 32, 25, 62, 9, 38,
        55, 58, 52, 40, 48, 13, 12, 7, 45, 39, 31, 5, 49, 57, 14, 68, 59, 54, 29, 41, 56, 33,
    ],
}


def _numbered(m):
    """X of shape (3, m) and Y of shape (1, m) whose column j holds j: a shuffled column shows where it came from."""
    X = np.arange(m) + np.array([[0.0], [1000.0], [2000.0]])
    return X, np.arange(m, dtype=float).reshape(1, m)


def random_mini_batches_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    for m, size, seed in ((20, 8, 3), (16, 8, 1), (70, None, None)):
        X, Y = _numbered(m)
        if size is None:  # the defaults: mini_batch_size=64, seed=0
            got = call_unchanged(target, "random_mini_batches", X, Y)
            call, size, seed = f"random_mini_batches(X, Y) with m = {m}", 64, 0
        else:
            got = call_unchanged(target, "random_mini_batches", X, Y, size, seed)
            call = f"random_mini_batches(X, Y, mini_batch_size={size}, seed={seed}) with m = {m}"
        permutation = np.array(MINI_BATCH_PERMUTATIONS[(m, seed)])
        expected = [(X[:, permutation[start:start + size]], Y[:, permutation[start:start + size]])
                    for start in range(0, m, size)]
        expect_like(call, got, expected)
    passed()


def _zeros(prefix):
    return {name: np.zeros(shape) for name, shape in _shapes(prefix).items()}


def initialize_velocity_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    parameters, _, _, _ = _inputs()
    expect_like("v", call_unchanged(target, "initialize_velocity", parameters), _zeros("d"))
    passed()


MOMENTUM_EXPECTED = (
    {
        "W1": [[0.1600109373, 1.0568554807], [0.2969388154, -1.2276432932], [0.9280972291, 0.4543366583]],
        "b1": [[-0.3519002554], [0.5942539523], [0.4396294664]],
        "W2": [[0.0006007685, -0.0016742284, 0.5815553236]],
        "b2": [[-0.7078499803]],
    },
    {
        "dW1": [[1.8557325474, -2.3523733723], [0.3349826077, -0.7551393838], [-0.2274136246, -0.0796208596]],
        "db1": [[-1.8505297999], [-0.1313584812], [-0.7505707017]],
        "dW2": [[2.9353172813, 0.300964697, -0.3484233696]],
        "db2": [[-0.2860410667]],
    },
)


def update_parameters_with_momentum_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    parameters, grads, v, _ = _inputs()
    got = call_unchanged(target, "update_parameters_with_momentum", parameters, grads, v, 0.9, 0.1)
    expect_like("update_parameters_with_momentum", got, tuple(_array_dict(d) for d in MOMENTUM_EXPECTED),
                names=("new_parameters", "new_v"))
    passed()


def initialize_adam_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    parameters, _, _, _ = _inputs()
    expect_like("initialize_adam", call_unchanged(target, "initialize_adam", parameters), (_zeros("d"), _zeros("d")),
                names=("v", "s"))
    passed()


ADAM_EXPECTED = (
    {
        "W1": [[0.3410852704, 0.829361167], [0.3296389433, -1.2971228826], [0.9060410532, 0.4466795498]],
        "b1": [[-0.5320883009], [0.581857116], [0.3664650646]],
        "W2": [[0.284764936, 0.0276766507, 0.5479004065]],
        "b2": [[-0.7354278229]],
    },
    {
        "dW1": [[1.8557325474, -2.3523733723], [0.3349826077, -0.7551393838], [-0.2274136246, -0.0796208596]],
        "db1": [[-1.8505297999], [-0.1313584812], [-0.7505707017]],
        "dW2": [[2.9353172813, 0.300964697, -0.3484233696]],
        "db2": [[-0.2860410667]],
    },
    {
        "dW1": [[0.9421487906, 0.5110894912], [0.9754380835, 0.0867159509], [0.6099874228, 0.3774192133]],
        "db1": [[0.8012052058], [0.174952065], [0.8708427184]],
        "dW2": [[0.5437041791, 0.9022685028, 0.4767728157]],
        "db2": [[0.4301739066]],
    },
    {
        "dW1": [[9.7670134075, -12.380912486], [1.7630663564, -3.9744178094], [-1.1969138138, -0.4190571557]],
        "db1": [[-9.7396305259], [-0.6913604274], [-3.950372114]],
        "dW2": [[15.4490383228, 1.5840247211, -1.8338072083]],
        "db2": [[-1.5054792986]],
    },
    {
        "dW1": [[471.3100503492, 255.6725818883], [487.9630232581, 43.3796652587], [305.1462845555, 188.8040086722]],
        "db1": [[400.803004403], [87.519792377], [435.6391787665]],
        "dW2": [[271.9880835902, 451.3599313446, 238.5056606724]],
        "db2": [[215.1945505811]],
    },
)


def update_parameters_with_adam_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    parameters, grads, v, s = _inputs()
    got = call_unchanged(target, "update_parameters_with_adam", parameters, grads, v, s, 2)
    expect_like("update_parameters_with_adam", got, tuple(_array_dict(d) for d in ADAM_EXPECTED),
                names=("new_parameters", "new_v", "new_s", "v_corrected", "s_corrected"))
    passed()


def update_lr_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    for (learning_rate0, epoch_num, decay_rate), expected in (
        ((0.5, 2, 0.3), 0.3125),
        ((0.1, 0, 1.0), 0.1),
        ((0.01, 10, 0.5), 0.001666666667),
        ((0.2, 7, 0.0), 0.2),
    ):
        got = call_unchanged(target, "update_lr", learning_rate0, epoch_num, decay_rate)
        expect_like(f"update_lr({learning_rate0}, {epoch_num}, {decay_rate})", got, expected)
    passed()


def schedule_lr_decay_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    for args, expected in (
        ((0.5, 100, 0.3), 0.5),
        ((0.5, 1000, 0.3), 0.384615384615),
        ((0.5, 1999, 0.3), 0.384615384615),
        ((0.5, 2000, 0.3), 0.3125),
        ((0.5, 25, 0.5, 10), 0.25),
        ((0.3, 9, 1.0, 10), 0.3),
    ):
        got = call_unchanged(target, "schedule_lr_decay", *args)
        expect_like(f"schedule_lr_decay{args}", got, expected)
    passed()
