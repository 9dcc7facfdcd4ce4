"""timm's `inception_v4` reference (tests/reference/timm_inception_v4, see its RECIPE.md): the state-dict keys,
the weights drawn by the recipe, the input and timm's log-probabilities for them."""
import os
from collections import OrderedDict

import numpy as np

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference", "timm_inception_v4")
TIMM_BN_EPS = 1e-3


def timm_keys():
    """[(key, shape)] in timm's state-dict order."""
    rows = []
    with open(os.path.join(FOLDER, "keys.tsv"), encoding="utf-8") as stream:
        for line in stream.read().splitlines():
            key, shape = line.split("\t")
            rows.append((key, tuple(int(n) for n in shape.split(","))))
    return rows


def recipe_weights():
    """OrderedDict timm key -> float32 array, drawn exactly as RECIPE.md says."""
    rng = np.random.default_rng(20261129)
    weights = OrderedDict()
    for key, shape in timm_keys():
        if key.endswith("running_var"):
            value = rng.uniform(0.5, 2.0, shape)
        elif key.endswith("running_mean"):
            value = rng.uniform(-0.5, 0.5, shape)
        elif key.endswith("bn.weight"):
            value = rng.uniform(0.5, 1.5, shape)
        elif key.endswith("bn.bias"):
            value = rng.uniform(-0.2, 0.2, shape)
        elif key == "last_linear.bias":
            value = rng.uniform(-0.1, 0.1, shape)
        else:
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
        weights[key] = value.astype(np.float32)
    return weights


def reference_input():
    return np.random.default_rng(7).standard_normal((2, 3, 299, 299)).astype(np.float32)


def expected_logp():
    return np.load(os.path.join(FOLDER, "expected_logp.npy"))


def photos_logp():
    """{'china.jpg': float32 (1000,), 'flower.jpg': ...}: timm's log-probabilities from the JPEG files through
    its own preprocessing (RECIPE.md, "From a JPEG file")."""
    with np.load(os.path.join(FOLDER, "photos_logp.npz")) as data:
        return {name: data[name] for name in data.files}
