"""Public tests for "Convolutional Neural Networks: Step by Step".

Call each test with your function, e.g. ``zero_pad_test(zero_pad)``. It prints a green line
when everything checks out, or stops with a message saying what is wrong: the shape, the
type, or which value differs from the expected one.
"""

from pathlib import Path

import numpy as np

try:  # the course toolkit, when it is installed
    from grader.checks import call_unchanged, expect_array, expect_scalar, expect_shape, expect_tuple, passed
except ImportError:  # the copy shipped beside the student notebook
    from grader_checks import call_unchanged, expect_array, expect_scalar, expect_shape, expect_tuple, passed

HERE = Path(__file__).resolve().parent


def zero_pad_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    np.random.seed(1)
    x = np.random.randn(4, 3, 3, 2)
    x_pad = call_unchanged(target, "zero_pad", x, 3)
    expected = np.zeros((4, 9, 9, 2))
    expected[:, 3:6, 3:6, :] = x  # the images in the middle, 3 rows and columns of zeros around them
    expect_array("zero_pad(x, 3)", x_pad, expected)
    expect_array("zero_pad(x, 0)", call_unchanged(target, "zero_pad", x, 0), x)
    passed()


def conv_single_step_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    np.random.seed(1)
    a_slice_prev = np.random.randn(4, 4, 3)
    W = np.random.randn(4, 4, 3)
    b = np.random.randn(1, 1, 1)
    Z = call_unchanged(target, "conv_single_step", a_slice_prev, W, b)
    expect_scalar("conv_single_step(a_slice_prev, W, b)", Z, -6.999089450680221)
    passed()


def conv_forward_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    np.random.seed(1)
    A_prev = np.random.randn(2, 5, 7, 4)
    W = np.random.randn(3, 3, 4, 8)
    b = np.random.randn(1, 1, 1, 8)
    hparameters = {"pad": 1, "stride": 2}
    Z, cache = expect_tuple("conv_forward", call_unchanged(target, "conv_forward", A_prev, W, b, hparameters), 2)
    expect_shape("Z", Z, (2, 3, 4, 8))
    expect_scalar("the mean of Z", np.mean(Z).item(), 0.5511276474566768)
    expected_row = [-2.177960371, 8.0717132866, -0.5772703966, 3.3628673753,
                    4.4811364468, -2.8919842848, 10.9928886733, 3.03171932]
    expect_array("Z[0, 2, 1]", Z[0, 2, 1], expected_row)
    cache = expect_tuple("the cache returned by conv_forward", cache, 4)
    expect_shape("cache[0], the A_prev conv_forward was given,", cache[0], (2, 5, 7, 4))
    expect_array("cache[0][1][2][3]", cache[0][1][2][3], [-1.1191153986, 1.9560789037, -0.3264994981, -1.3426757894])
    passed()


POOL_EXPECTED = {
    (1, "max"): [[1.9671017493, 0.8461606476, 1.2737559302],
                 [1.9671017493, 0.8461606476, 1.2361640305],
                 [1.6276507531, 1.1214177082, 1.2245077048]],
    (1, "average"): [[0.4449769625, -0.0026169459, -0.3104030734],
                     [0.5081147373, -0.2349373379, -0.2396118301],
                     [0.1187267724, 0.1725522945, -0.2211219657]],
    (2, "max"): [[1.9671017493, 0.868886157, 1.2737559302],
                 [1.6276507531, 1.1214177082, 0.7928068659]],
    (2, "average"): [[0.429449255, 0.0844699612, -0.2729090507],
                     [0.1507745183, 0.2891117512, 0.0012323854]],
}


def pool_forward_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    np.random.seed(1)
    A_prev = np.random.randn(2, 5, 5, 3)
    for (stride, mode), expected in POOL_EXPECTED.items():
        hparameters = {"stride": stride, "f": 3}
        label = f'pool_forward with stride = {stride}, mode = "{mode}"'
        A, cache = expect_tuple(label, call_unchanged(target, "pool_forward", A_prev, hparameters, mode=mode), 2)
        n = 3 if stride == 1 else 2
        expect_shape(f"A ({label})", A, (2, n, n, 3))
        expect_array(f"A[1, 1] ({label})", A[1, 1], expected)
        expect_tuple(f"the cache ({label})", cache, 2)
    passed()


def conv_backward_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    np.random.seed(1)
    A_prev = np.random.randn(10, 4, 4, 3)
    W = np.random.randn(2, 2, 3, 8)
    b = np.random.randn(1, 1, 1, 8)
    hparameters = {"pad": 2, "stride": 2}
    dZ = np.load(HERE / "conv_backward_dZ.npy", allow_pickle=False)  # conv_forward's Z for these inputs
    dA, dW, db = expect_tuple("conv_backward", call_unchanged(target, "conv_backward", dZ, (A_prev, W, b, hparameters)), 3)
    for name, got, shape, mean in (
        ("dA_prev", dA, (10, 4, 4, 3), 1.4524377775388075),
        ("dW", dW, (2, 2, 3, 8), 1.7269914583139097),
        ("db", db, (1, 1, 1, 8), 7.839232564616838),
    ):
        expect_shape(name, got, shape)
        expect_scalar(f"the mean of {name}", np.mean(got).item(), mean)
    passed()


def create_mask_from_window_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    np.random.seed(1)
    x = np.random.randn(2, 3)
    expect_array("create_mask_from_window(x)", call_unchanged(target, "create_mask_from_window", x),
                 np.array([[True, False, False], [False, False, False]]))
    x = np.array([[-1, 2, 3], [2, -3, 2], [1, 5, -2]])
    expected = np.zeros((3, 3), dtype=bool)
    expected[2, 1] = True
    expect_array("create_mask_from_window(x) for an integer window", call_unchanged(target, "create_mask_from_window", x),
                 expected)
    passed()


def distribute_value_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    for dz, shape, value in ((2, (2, 2), 0.5), (100, (10, 10), 1.0), (3.0, (2, 3), 0.5)):
        got = call_unchanged(target, "distribute_value", dz, shape)
        expect_array(f"distribute_value({dz}, {shape})", got, np.full(shape, value))
    passed()


def pool_backward_test(target):
    __tracebackhide__ = True  # Jupyter shows the student's lines and the check's message, not this test's
    np.random.seed(1)
    A_prev = np.random.randn(5, 5, 3, 2)
    hparameters = {"stride": 1, "f": 2}
    dA = np.random.randn(5, 4, 2, 2)
    expected = {
        "max": [[0.0, 0.0], [5.05844394, -1.68282702], [0.0, 0.0]],
        "average": [[0.08485462, 0.2787552], [1.26461098, -0.25749373], [1.17975636, -0.53624893]],
    }
    for mode, rows in expected.items():
        label = f'pool_backward(dA, cache, mode="{mode}")'
        dA_prev = call_unchanged(target, "pool_backward", dA, (A_prev, hparameters), mode=mode)
        expect_shape(label, dA_prev, (5, 5, 3, 2))
        expect_array(f"{label}[1, 1]", dA_prev[1, 1], rows)
    passed()
