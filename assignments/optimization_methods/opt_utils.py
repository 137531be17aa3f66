"""Helpers for the "Optimization Methods" notebook: example parameters and gradients to try the update
rules on, a toy data set, and a small fully connected network (forward pass, cost, backward pass) to
train with them.

Randomness: every function that draws numbers takes a ``seed`` and makes its own
``np.random.default_rng(seed)``. Nothing here touches NumPy's global random state, so running the
cells in another order never changes what a later cell draws.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    """The logistic function, 1 / (1 + e^-z), element-wise."""
    return 1 / (1 + np.exp(-z))


def relu(z):
    """max(0, z), element-wise."""
    return np.maximum(0, z)


def example_parameters(layer_dims, seed=1, dtype=np.float64):
    """Random parameters {"W1", "b1", ..., "WL", "bL"} for layers of the given sizes (layer_dims[0] is the
    input size): W_l has shape (n_l, n_{l-1}) and b_l shape (n_l, 1)."""
    rng = np.random.default_rng(seed)
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters["W" + str(l)] = rng.standard_normal((layer_dims[l], layer_dims[l - 1])).astype(dtype)
        parameters["b" + str(l)] = rng.standard_normal((layer_dims[l], 1)).astype(dtype)
    return parameters


def example_gradients(parameters, seed=2):
    """Random gradients {"dW1", "db1", ...}, one per parameter and of the same shape."""
    rng = np.random.default_rng(seed)
    return {"d" + name: rng.standard_normal(value.shape) for name, value in parameters.items()}


def load_moons(m=300, noise=0.2, seed=3):
    """Two interleaved half circles in the plane: X of shape (2, m), labels Y of shape (1, m) in {0, 1}.
    Not separable by a straight line, so a small network has something to learn."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=m)
    angle = rng.uniform(0, np.pi, size=m)
    x = np.where(labels == 0, np.cos(angle), 1 - np.cos(angle))
    y = np.where(labels == 0, np.sin(angle), 0.5 - np.sin(angle))
    X = np.stack([x, y]) + noise * rng.standard_normal((2, m))
    return X, labels.reshape(1, m)


def initialize_parameters(layer_dims, seed=3):
    """He initialisation: W_l drawn from N(0, 2 / n_{l-1}), b_l zero. Keeps the activations of ReLU layers
    at about the same scale from layer to layer."""
    rng = np.random.default_rng(seed)
    parameters = {}
    for l in range(1, len(layer_dims)):
        parameters["W" + str(l)] = rng.standard_normal((layer_dims[l], layer_dims[l - 1])) * np.sqrt(2 / layer_dims[l - 1])
        parameters["b" + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters


def forward_propagation(X, parameters):
    """ReLU hidden layers, a sigmoid output. Returns the output AL of shape (1, m) and the caches the
    backward pass needs: one (A_prev, Z) pair per layer."""
    L = len(parameters) // 2
    A = X
    caches = []
    for l in range(1, L + 1):
        Z = parameters["W" + str(l)] @ A + parameters["b" + str(l)]
        caches.append((A, Z))
        A = sigmoid(Z) if l == L else relu(Z)
    return A, caches


def compute_cost(AL, Y):
    """The cross-entropy summed (not averaged) over the examples, so that the costs of the mini-batches of
    one epoch add up to the cost of the whole training set."""
    AL = np.clip(AL, 1e-12, 1 - 1e-12)
    return float(-np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)))


def backward_propagation(AL, Y, caches, parameters):
    """Gradients {"dW1", "db1", ...} of the mean cross-entropy, for the network of forward_propagation."""
    m = Y.shape[1]
    L = len(caches)
    grads = {}
    dZ = AL - Y  # sigmoid and cross-entropy together
    for l in range(L, 0, -1):
        A_prev, _ = caches[l - 1]
        grads["dW" + str(l)] = dZ @ A_prev.T / m
        grads["db" + str(l)] = np.sum(dZ, axis=1, keepdims=True) / m
        if l > 1:
            dA_prev = parameters["W" + str(l)].T @ dZ
            dZ = dA_prev * (caches[l - 2][1] > 0)
    return grads


def predict(X, parameters):
    """Labels 0 or 1, shape (1, m): 1 where the network's output is above one half."""
    AL, _ = forward_propagation(X, parameters)
    return (AL > 0.5).astype(int)
