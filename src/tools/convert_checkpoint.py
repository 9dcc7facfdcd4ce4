"""Convert published Inception-v4 weights into a checkpoint of this network (the original model zoo's names),
and a checkpoint of this network back into timm's `inception_v4` state dict.

    python -m src.tools.convert_checkpoint --source {timm,mindcv} --input IN --output OUT.ckpt
    python -m src.tools.convert_checkpoint --to timm --input CKPT --output model.safetensors

timm: `model.safetensors` of `inception_v4.tf_in1k` (read with NumPy, no PyTorch needed), or a PyTorch state
dict (.pth/.bin, read only when PyTorch is installed). mindcv: its MindSpore `.ckpt`. BatchNorm eps differences
are folded into the moving variance; the head BatchNorms the sources lack are set to identity, so the
converted network's log-probabilities equal log_softmax of the source's logits. The class count comes from the
input's classifier. The checkpoint records the source's preprocessing (src.preprocessing.SOURCES), its input
size (299x299) and, for 1000 classes, the ImageNet-1k class names and WordNet ids.

--to timm writes, with NumPy, what `timm.create_model("inception_v4", num_classes=N).load_state_dict(...,
strict=True)` takes and computes the checkpoint's eval-mode log-probabilities as log_softmax of its logits:
the conv BatchNorms' eps 1e-5 -> 1e-3 folded into the running variance, and the head BatchNorms (affine maps
in eval mode around the dense layer; the dropout between them is the identity) folded into last_linear. The
checkpoint's metadata (class names, preprocessing) goes into the file's header.
"""
import argparse
import json
import os
import sys

import numpy as np

from src.checkpoint import (METADATA_KEY, assign_params, checkpoint_metadata, checkpoint_num_classes, detect_layout,
                            read_checkpoint, save_checkpoint, shown_names)
from src.class_names import imagenet_class_ids, imagenet_class_names
from src.errors import UserError, report_user_errors
from src.fileio import atomic_output, check_not_input
from src.folding import batchnorm_affine
from src.inceptionv4 import BN0_EPS, CONV_BN_EPS, HEAD_BN_EPS, NUM_FEATURES, Inceptionv4
from src.preprocessing import IMAGE_SIZE_KEY, SOURCES

SOURCE_IMAGE_SIZE = (299, 299)
"""The input size (height, width) timm's and mindcv's Inception-v4 weights were trained at."""

SOURCE_BN_EPS = {"timm": 1e-3, "mindcv": 1e-3}
CLASSIFIER = {"timm": "last_linear", "mindcv": "classifier"}
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
        return f"{CLASSIFIER[source]}.{name.rsplit('.', 1)[1]}"
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
        hint = f": use --source {layout}" if layout in CLASSIFIER else ""
        raise UserError(f"'{path}' is not a {source} Inception-v4 checkpoint ({seen}){hint}.")
    classifier = weights.get(f"{CLASSIFIER[source]}.weight")
    if classifier is None or classifier.ndim != 2 or classifier.shape[1] != NUM_FEATURES:
        raise UserError(f"'{path}' lacks a {CLASSIFIER[source]}.weight of shape (classes, {NUM_FEATURES}).")
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
        if key is None or key.startswith(f"{CLASSIFIER['timm']}."):
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    direction = parser.add_mutually_exclusive_group(required=True)
    direction.add_argument("--source", choices=sorted(CLASSIFIER), help="where the weights come from")
    direction.add_argument("--to", choices=["timm"], help="write this network's checkpoint as that library's weights")
    parser.add_argument("--input", required=True, help="timm .safetensors (or .pth/.bin) / mindcv .ckpt file; "
                        "with --to: a checkpoint of this network")
    parser.add_argument("--output", required=True, help="file to write: .ckpt (--source), .safetensors (--to timm)")
    args = parser.parse_args(argv)
    return _run(args)


@report_user_errors
def _run(args):
    if not os.path.isfile(args.input):
        raise UserError(f"input '{os.path.abspath(args.input)}' does not exist.")
    extension, kind = (".safetensors", "a safetensors file") if args.to else (".ckpt", "a MindSpore checkpoint")
    if not args.output.lower().endswith(extension):
        raise UserError(f"--output '{args.output}' must end with {extension} ({kind}).")
    if os.path.isdir(args.output):
        raise UserError(f"--output '{os.path.abspath(args.output)}' is a folder: give a {extension} file path.")
    check_not_input(args.output, args.input)
    if args.to:
        return _write_timm(args)
    weights = read_weights(args.input)
    net, num_classes = convert(args.source, weights, args.input)
    metadata = {"preprocessing": SOURCES[args.source].to_dict(), IMAGE_SIZE_KEY: list(SOURCE_IMAGE_SIZE),
                "converted_from": {"source": args.source, "file": os.path.basename(args.input)}}
    if num_classes == 1000:
        metadata.update(class_names=imagenet_class_names(), class_ids=imagenet_class_ids())
    try:
        save_checkpoint(net, args.output, metadata=metadata)
    except OSError as err:
        raise UserError(f"cannot write '{os.path.abspath(args.output)}': {err.strerror or err}.") from None
    count = sum(param.size for param in net.trainable_params())
    prep = SOURCES[args.source]
    print(f"convert_checkpoint: wrote {args.output}: {args.source} weights in the original model zoo's layout, "
          f"{len(net.parameters_dict())} parameters ({count:,} trainable values), "
          f"{num_classes} classes; recorded {prep.describe(*SOURCE_IMAGE_SIZE)[len('preprocessing: '):]}", flush=True)
    print(f"use it: python eval.py --checkpoint_path {args.output} --num_classes {num_classes} --dataset_path VAL; "
          f"python predict.py --ckpt_file {args.output} --num_classes {num_classes} --image IMAGE; fine-tune: "
          f"python train.py --pretrained {args.output} --num_classes N --dataset_path TRAIN", flush=True)
    return 0


def _write_timm(args):
    params = read_checkpoint(args.input)
    tensors, num_classes = to_timm(params, args.input)
    metadata = checkpoint_metadata(params)
    header = {"format": "pt", **({METADATA_KEY: json.dumps(metadata, ensure_ascii=False, sort_keys=True)}
                                 if metadata else {})}
    from safetensors.numpy import save_file
    try:
        with atomic_output(args.output) as tmp:
            save_file(tensors, tmp, metadata=header)
    except OSError as err:
        raise UserError(f"cannot write '{os.path.abspath(args.output)}': {err.strerror or err}.") from None
    print(f"convert_checkpoint: wrote {args.output}: timm inception_v4 state dict, {len(tensors)} tensors, "
          f"{num_classes} classes (BatchNorm eps 1e-5 -> 1e-3 folded into running_var; bn0 and softmax.batchnorm "
          "folded into last_linear)", flush=True)
    prep, size = metadata.get("preprocessing"), metadata.get(IMAGE_SIZE_KEY)
    fed = (f"feed it what the checkpoint records: {', '.join(f'{k} {v}' for k, v in prep.items())}"
           if isinstance(prep, dict) else "the checkpoint records no preprocessing (the original's: ImageNet "
           "mean/std, bilinear, crop_pct 1.0)")
    if isinstance(size, list) and len(size) == 2:
        fed += f", at {size[0]}x{size[1]}"
    print(f"use it: model = timm.create_model('inception_v4', num_classes={num_classes}); "
          f"model.load_state_dict(safetensors.torch.load_file('{args.output}'), strict=True); model.eval(); "
          f"log_softmax(model(x)) are the checkpoint's log-probabilities; {fed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
