"""Converting published Inception-v4 weights (timm, mindcv) into this network's parameters (the original model
zoo's names), and a checkpoint of this network back into timm's `inception_v4` state dict (library code of
src/tools/convert_checkpoint.py, whose docstring describes the conversion).
"""
import numpy as np

from src.checkpoint import assign_params, checkpoint_num_classes, detect_layout, read_checkpoint, shown_names
from src.deploy.inference import batchnorm_affine
from src.inceptionv4 import BN0_EPS, CONV_BN_EPS, HEAD_BN_EPS, NUM_FEATURES, Inceptionv4
from src.runtime.stops import UserError


SOURCE_IMAGE_SIZE = (299, 299)
"""The input size (height, width) timm's and mindcv's Inception-v4 weights were trained at."""

SOURCE_BN_EPS = {"timm": 1e-3, "mindcv": 1e-3}
CLASSIFIER_PREFIX = {"timm": "last_linear", "mindcv": "classifier"}
_TIMM_BN = {"gamma": "bn.weight", "beta": "bn.bias", "moving_mean": "bn.running_mean",
            "moving_variance": "bn.running_var"}
_TIMM_INCEPTION_C = {"branch_0": "branch0", "branch_1": "branch1_0", "branch_1_1": "branch1_1a",
                     "branch_1_2": "branch1_1b", "branch_2.0": "branch2_0", "branch_2.1": "branch2_1",
                     "branch_2.2": "branch2_2", "branch_2_1": "branch2_3a", "branch_2_2": "branch2_3b",
                     "branch_3.1": "branch3.1"}
_TIMM_STEM = {"conv2d_1a_3x3": "0", "conv2d_2a_3x3": "1", "conv2d_2b_3x3": "2", "mixed_3a_branch_1": "3.conv",
              "mixed_4a_branch_0": "4.branch0", "mixed_4a_branch_1": "4.branch1", "mixed_5a_branch_0": "5.conv"}
TIMM_BLOCK_OFFSET = 5
"""timm splits the stem into features.0-5, so the original's block i (1-16) is timm's i + 5."""


def timm_conv_prefix(conv):
    """timm's module path of the original's conv `conv` (e.g. 'features.14.branch_2.1' -> 'features.19.branch2_1')."""
    _, index, rest = conv.split(".", 2)
    index = int(index)
    if index == 0:
        head, _, tail = rest.partition(".")
        return f"features.{_TIMM_STEM[head]}" + (f".{tail}" if tail else "")
    if index >= 14:  # Inception-C: timm names the split branches 1_1a, 1_1b, 2_3a, 2_3b
        rest = _TIMM_INCEPTION_C[rest]
    else:
        rest = rest.replace("branch_", "branch")
    return f"features.{index + TIMM_BLOCK_OFFSET}.{rest}"


def source_name(source, name):
    """The source's key for our parameter `name`, or None for the head BatchNorms the source lacks."""
    if name.startswith(("bn0.", "softmax.batchnorm.")):
        return None
    if name.startswith("softmax.dense."):
        return f"{CLASSIFIER_PREFIX[source]}.{name.rsplit('.', 1)[1]}"
    conv, _, part = name.partition(".conv.")  # '<conv>.conv.conv.weight' / '<conv>.conv.batchnorm.gamma'
    if source == "mindcv":
        return f"{conv}.{part}".replace(".batchnorm.", ".bn.")
    prefix = timm_conv_prefix(conv)
    return f"{prefix}.conv.weight" if part == "conv.weight" else f"{prefix}.{_TIMM_BN[part.split('.')[-1]]}"


def read_weights(path):
    """{key: float32 array} of a .safetensors file, a MindSpore .ckpt or (with PyTorch installed) a PyTorch
    state dict; which layout the names follow is checked by `convert`."""
    if path.lower().endswith(".ckpt"):
        return {name: value.asnumpy().astype(np.float32) for name, value in read_checkpoint(path).items()
                if hasattr(value, "asnumpy")}
    if path.lower().endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file
        try:
            tensors = load_file(path)
        except (SafetensorError, OSError, ValueError) as err:
            raise UserError(f"'{path}' is not a readable safetensors file ({str(err).splitlines()[0]}).") from None
    else:
        try:
            import torch
        except ImportError:
            raise UserError(f"'{path}' is a PyTorch file and PyTorch is not installed: use timm's "
                            "model.safetensors instead (read without PyTorch), or install torch.") from None
        try:
            tensors = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many types for a bad file  # pylint: disable=broad-except
            raise UserError(f"'{path}' is not a readable PyTorch state dict ({str(err).splitlines()[0]}).") \
                from None
        tensors = tensors.get("state_dict", tensors) if isinstance(tensors, dict) else tensors
        if not isinstance(tensors, dict):
            raise UserError(f"'{path}' does not hold a state dict (a mapping of names to tensors).")
        tensors = {key: value.float().numpy() for key, value in tensors.items() if hasattr(value, "numpy")}
    return {key: np.asarray(value, np.float32) for key, value in tensors.items()
            if not key.endswith("num_batches_tracked")}


def convert(source, weights, path):
    """(network holding the converted weights, num_classes) from the source's {key: array}; UserError if the
    keys or shapes are not those of the source's Inception-v4."""
    layout = detect_layout(weights)
    if layout != source:
        seen = f"its names look like {layout}'s" if layout else "its names are not those of any known layout"
        hint = f": use --source {layout}" if layout in CLASSIFIER_PREFIX else ""
        raise UserError(f"'{path}' is not a {source} Inception-v4 checkpoint ({seen}){hint}.")
    classifier = weights.get(f"{CLASSIFIER_PREFIX[source]}.weight")
    if classifier is None or classifier.ndim != 2 or classifier.shape[1] != NUM_FEATURES:
        raise UserError(f"'{path}' lacks a {CLASSIFIER_PREFIX[source]}.weight of shape (classes, {NUM_FEATURES}).")
    num_classes = classifier.shape[0]
    net = Inceptionv4(classes=num_classes, is_train=False)
    params = list(net.get_parameters())
    wanted = {param.name: source_name(source, param.name) for param in params}
    used = {key for key in wanted.values() if key}
    missing = sorted(used - set(weights))
    if missing:
        raise UserError(f"'{path}' lacks {len(missing)} of the {source} Inception-v4 weights ({shown_names(missing)}).")
    unknown = sorted(set(weights) - used)
    if unknown:
        raise UserError(f"'{path}' holds {len(unknown)} weights that {source}'s Inception-v4 does not have "
                        f"({shown_names(unknown)}): is it another model?")
    wrong = [f"{key} {weights[key].shape} instead of {tuple(param.shape)}" for param in params
             for key in [wanted[param.name]] if key and weights[key].shape != tuple(param.shape)]
    if wrong:
        raise UserError(f"'{path}' has weights of unexpected shapes: {'; '.join(wrong[:3])}.")
    for param in params:
        param.set_data(_converted(source, weights, param.name, wanted[param.name], tuple(param.shape)))
    return net, num_classes


def _converted(source, weights, name, key, shape):
    """Our parameter `name` from the source's `key` (None: an identity BatchNorm)."""
    if key is None:
        eps = BN0_EPS if name.startswith("bn0.") else HEAD_BN_EPS
        kind = name.rsplit(".", 1)[1]
        value = {"gamma": 1.0, "beta": 0.0, "moving_mean": 0.0, "moving_variance": 1.0 - eps}[kind]
        return _tensor(np.full(shape, value, np.float32))
    value = weights[key]
    if name.endswith("moving_variance"):  # same y for our eps: var + eps_source = var' + eps_ours
        value = (value.astype(np.float64) + SOURCE_BN_EPS[source] - CONV_BN_EPS).astype(np.float32)
    return _tensor(value)


def _tensor(value):
    import mindspore as ms
    return ms.Tensor(np.ascontiguousarray(value))


def to_timm(params, path):
    """({timm key: float32 array}, num_classes): timm's `inception_v4` state dict computing what the checkpoint
    dict `params` (read from `path`) computes in eval mode; UserError when no timm state dict can be exact."""
    num_classes = checkpoint_num_classes(params)
    if num_classes is None:
        raise UserError(f"'{path}' has no softmax.dense.weight: it is not a checkpoint of this network.")
    net = Inceptionv4(classes=num_classes, is_train=False)
    assign_params(net, params, path)
    values = {param.name: param.asnumpy().astype(np.float64) for param in net.get_parameters()}
    broken = [name for name, value in values.items() if not np.isfinite(value).all()]
    if broken:
        raise UserError(f"'{path}' holds NaN or infinite values ({shown_names(broken)}): the training that wrote "
                        "it diverged; convert an earlier checkpoint.")
    tensors = {}
    for name, value in values.items():
        key = source_name("timm", name)
        if key is None or key.startswith(f"{CLASSIFIER_PREFIX['timm']}."):
            continue  # the head: folded below
        if name.endswith("moving_variance"):  # same y for timm's eps: var + eps_ours = var' + eps_timm
            value = value + CONV_BN_EPS - SOURCE_BN_EPS["timm"]
            if value.min() < 0:
                channel = int(value.argmin())
                raise UserError(f"'{path}' cannot be written exactly for timm: BatchNorm "
                                f"{name[:-len('.moving_variance')]} (timm's {key[:-len('.running_var')]}) has "
                                f"moving_variance {values[name][channel]:.3g} in channel {channel}, so timm's "
                                f"eps {SOURCE_BN_EPS['timm']:g} alone exceeds its variance + eps {CONV_BN_EPS:g}.")
        tensors[key] = value
    tensors["last_linear.weight"], tensors["last_linear.bias"] = _folded_head(values)
    return {key: value.astype(np.float32) for key, value in tensors.items()}, num_classes


def _folded_head(values):
    """timm's last_linear (weight, bias) for our eval-mode head: bn0 (x * a + c), dropout (identity), dense
    (W x + b), softmax.batchnorm (z * s + t); then W' = diag(s) W diag(a), b' = s (W c + b) + t."""
    def affine(prefix, eps):
        return batchnorm_affine(*(values[f"{prefix}.{kind}"] for kind in (
            "gamma", "beta", "moving_mean", "moving_variance")), eps)
    a, c = affine("bn0", BN0_EPS)
    s, t = affine("softmax.batchnorm", HEAD_BN_EPS)
    weight, bias = values["softmax.dense.weight"], values["softmax.dense.bias"]
    return s[:, None] * weight * a[None, :], s * (weight @ c + bias) + t
