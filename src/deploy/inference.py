"""A trained network for inference: the checkpoint loaded in eval mode (`load_network`, `open_checkpoint`:
shared by eval.py, export.py and predict.py), BatchNorm folding, the file names of exported models, and
predict.py's parts (the images to classify, the model: a checkpoint or an exported MINDIR file in MindSpore, or
an ONNX file in onnxruntime, and the class names its outputs are reported with).

BatchNorm folding: in eval mode a BatchNorm after a conv is a per-channel affine map, so conv + BatchNorm
equals one conv with scaled weights and a bias:

    scale = gamma / sqrt(moving_variance + eps)      (eps: that BatchNorm's own)
    W' = W * scale (per output channel)              b' = beta + (b - moving_mean) * scale

(b = 0 for convs without bias). Only `nn.Conv2dBnAct` cells with a BatchNorm change; everything else
(the head's BatchNorm1d and DenseBnAct included) is left as it is. The folded network is for inference
only: it has no moving statistics to train or save.
"""
import os
import stat

import mindspore as ms
import numpy as np
from mindspore import nn

from src.checkpoint import (AIR_HINT, CLASS_NAMES_KEY, EXPORT_EXTENSIONS, assign_params, checkpoint_metadata,
                            checkpoint_num_classes, exported_format, read_checkpoint)
from src.inputs.files import (IMAGE_EXTENSIONS, image_data_problem, imagenet_class_names, read_class_names,
                            undecodable_format)
from src.inputs.preprocessing import resolve_image_size
from src.deploy.runners import MindirClassifier, OnnxClassifier, padded_batches
from src.inceptionv4 import network_from_config
from src.runtime import stops
from src.runtime.fileio import unreachable
from src.runtime.stops import UserError


def batchnorm_affine(gamma, beta, mean, variance, eps):
    """(scale, shift) of an eval-mode BatchNorm: it maps x to x * scale + shift, per channel."""
    scale = gamma / np.sqrt(variance + eps)
    return scale, beta - mean * scale


def folded_conv(conv, batchnorm):
    """A new nn.Conv2d with bias equal to `conv` followed by `batchnorm` in eval mode."""
    if batchnorm.use_batch_statistics:
        raise ValueError("a BatchNorm with use_batch_statistics=True normalises with the batch's own "
                         "statistics even in eval mode and cannot be folded into its conv.")
    scale, shift = batchnorm_affine(*(param.asnumpy().astype(np.float64) for param in (
        batchnorm.gamma, batchnorm.beta, batchnorm.moving_mean, batchnorm.moving_variance)), batchnorm.eps)
    weight = conv.weight.asnumpy().astype(np.float64) * scale.reshape(-1, 1, 1, 1)
    bias = conv.bias.asnumpy().astype(np.float64) if conv.has_bias else np.zeros_like(shift)
    bias = shift + bias * scale
    return nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                     pad_mode=conv.pad_mode, padding=conv.padding, dilation=conv.dilation, group=conv.group,
                     has_bias=True, weight_init=ms.Tensor(weight.astype(np.float32)),
                     bias_init=ms.Tensor(bias.astype(np.float32)), data_format=conv.data_format)


def fold_batchnorm(net):
    """Fold the BatchNorm of every nn.Conv2dBnAct in `net` into its conv, in place; return `net` in eval
    mode. The result computes what `net` computes in eval mode, up to float32 rounding.

    Fold before the network's first graph-mode call: a compiled graph would keep running the old cells.
    """
    if net.compile_cache:
        raise ValueError("fold_batchnorm needs a network that has not been compiled yet (a graph-mode "
                         "call keeps running the compiled graph): fold it before its first call.")
    for _, cell in list(net.cells_and_names()):
        if isinstance(cell, nn.Conv2dBnAct) and cell.has_bn:
            weight_name = cell.conv.weight.name
            cell.conv = folded_conv(cell.conv, cell.batchnorm)
            del cell.batchnorm
            cell.has_bn = False
            # Parameter names must stay unique in the graph: the conv's weight keeps its full name.
            cell.conv.weight.name = weight_name
            cell.conv.bias.name = weight_name[:-len("weight")] + "bias"
    net.set_train(False)
    return net


def model_file(file_name, file_format):
    """`file_name` with the extension of `file_format` appended unless it already ends with it."""
    extension = EXPORT_EXTENSIONS[file_format]
    return file_name if file_name.lower().endswith(extension) else file_name + extension


_KINDS = {"checkpoint": "a MindSpore checkpoint", "MINDIR": "an exported MINDIR model", "AIR": "an exported AIR model"}


def onnx_path(file_name, elsewhere):
    """The ONNX file --file_name names: `file_name` when that file exists, else with '.onnx' added (model_file).
    UserError when it names a checkpoint (.ckpt) or a MINDIR or AIR file of a kind in `elsewhere`, whose value
    says where that kind goes."""
    kind = "checkpoint" if file_name.lower().endswith(".ckpt") else exported_format(file_name)
    if kind in elsewhere:
        raise UserError(f"--file_name '{file_name}' is {_KINDS[kind]}, not an ONNX model: {elsewhere[kind]}.")
    return file_name if os.path.isfile(file_name) else model_file(file_name, "ONNX")


def load_network(cfg, path, infer_classes=False):
    """The eval-mode network of `cfg` holding the weights of checkpoint `path`: (network, checkpoint dict).
    The one way eval.py, export.py and predict.py read a checkpoint. With `infer_classes` (predict.py) the
    class count is the checkpoint's unless --num_classes was given. With cfg.fold_batchnorm each conv's
    BatchNorm is folded into the conv (src/deploy/inference.py)."""
    params = read_checkpoint(path)
    classes = cfg.num_classes
    if infer_classes and not cfg.given("num_classes"):
        classes = checkpoint_num_classes(params) or classes
    net = network_from_config(cfg, is_train=False, num_classes=classes)
    assign_params(net, params, path)
    if cfg.fold_batchnorm:
        fold_batchnorm(net)
    return net, params


def list_images(path, warn=print):
    """`path` itself, or every file under the folder `path` (sorted, sub-folders included; a sub-folder that
    cannot be listed is named and skipped). UserError when `path` cannot be reached, listed, or holds no files."""
    shown = os.path.abspath(path)
    try:
        is_folder = stat.S_ISDIR(os.stat(path).st_mode)
    except OSError as err:
        reason = unreachable(path, err)
        hint = ": pass an image file or a folder of images" if reason == "does not exist" else ""
        raise UserError(f"--image '{shown}' {reason}{hint}.") from None
    if not is_folder:
        return [path]
    unlisted = []
    files = sorted(os.path.join(root, name) for root, _, names in os.walk(path, onerror=unlisted.append)
                   for name in names)
    for err in unlisted:
        reason = f"cannot be listed ({err.strerror}): chmod a+rx it, or copy its files to a folder you can read"
        if err.filename == path:
            raise UserError(f"--image folder '{shown}' {reason}.")
        warn(f"predict: skipped folder '{err.filename}': it {reason}", flush=True)
    if not files:
        raise UserError(f"--image folder '{shown}' holds no files: pass a folder of images (sub-folders included).")
    return files


def _file_bytes(path):
    """(the bytes of the file `path`, None) or (None, why it cannot be read)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None, "not a regular file (a pipe, socket or device)"
        with open(path, "rb") as stream:
            return stream.read(), None
    except OSError as err:
        return None, f"it {unreachable(path, err)}"


def _image_problem(path, data):
    """Why the bytes `data` of the file `path` are not a usable image, or None."""
    problem = image_data_problem(data)
    if not problem or undecodable_format(data):
        return problem
    if problem.startswith("not a") and not path.lower().endswith(IMAGE_EXTENSIONS):
        return "not an image"
    return f"damaged image ({problem})"


def image_batches(paths, preprocessing, height, width, batch_size, skip):
    """Yield (paths, float32 array len(paths) x 3 x height x width, files of `paths` gone through) for every
    `batch_size` usable images of `paths` (the last batch may be smaller), through the evaluation preprocessing.
    skip(path, reason) is called for each file that cannot be read, is not an image, is in a format the decoder
    cannot read, or is damaged. Only the current batch is held in memory."""
    ops = preprocessing.eval_ops(height, width)
    kept, images = [], []
    for done, path in enumerate(paths, 1):
        data, problem = _file_bytes(path)
        problem = problem or _image_problem(path, data)
        if not problem:
            try:
                image = np.frombuffer(data, np.uint8)
                for op in ops:
                    image = op(image)
                images.append(image)
                kept.append(path)
            except (RuntimeError, ValueError, OSError) as err:
                problem = f"damaged image ({str(err).strip().splitlines()[0]})"
        if problem:
            skip(path, problem)
        if len(kept) == batch_size or (done == len(paths) and kept):
            yield kept, np.stack(images).astype(np.float32), done
            kept, images = [], []


def open_checkpoint(cfg, path, infer_classes=False):
    """(eval-mode network, recorded metadata, cfg at the image size recorded with the weights unless the command
    line set it) of checkpoint `path`, through `load_network`."""
    net, params = load_network(cfg, path, infer_classes)
    metadata = checkpoint_metadata(params, path)
    return net, metadata, resolve_image_size(cfg, metadata, f"'{path}'")


class CheckpointModel:
    """A checkpoint in MindSpore (eval mode), run in batches of cfg.batch_size (the last one padded), at the
    input size recorded with it (src.inputs.preprocessing.resolve_image_size)."""

    def __init__(self, cfg):
        self.net, self.metadata, cfg = open_checkpoint(cfg, cfg.ckpt_file, infer_classes=True)
        self.num_classes = self.net.softmax.dense.weight.shape[0]
        self.source = f"'{cfg.ckpt_file}'"
        self.height, self.width, self.batch_size = cfg.height, cfg.width, cfg.batch_size

    def predict(self, images):
        """Log-probabilities of `images`. A signal stops after the current batch (src.runtime.stops; a second one
        at once: the first batch compiles the graph)."""
        outputs = []
        with stops.safe_points():
            for batch, count in padded_batches(images, self.batch_size):
                with stops.exit_at_once():
                    outputs.append(self.net(ms.Tensor(batch)).asnumpy()[:count])
                stops.check()
        return np.concatenate(outputs)


class _ExportedModel:
    """An exported file run by `classifier` (OnnxClassifier, MindirClassifier); its input size and recorded
    metadata come from the file."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.metadata = classifier.metadata
        self.num_classes = classifier.num_classes
        self.height, self.width = classifier.height, classifier.width
        self.source = f"'{classifier.path}'"

    def predict(self, images):
        return self.classifier.predict(images)


class OnnxModel(_ExportedModel):
    """An exported ONNX file (--file_name) in onnxruntime."""

    def __init__(self, cfg):
        path = onnx_path(cfg.file_name, {"checkpoint": "pass checkpoints with --ckpt_file", "AIR": AIR_HINT})
        super().__init__(OnnxClassifier(path, cfg.device_target))


class MindirModel(_ExportedModel):
    """An exported MINDIR file in MindSpore (nn.GraphCell)."""

    def __init__(self, path):
        super().__init__(MindirClassifier(path))


def open_model(cfg):
    """predict.py's model: a .mindir given with --file_name (or --ckpt_file) in MindSpore, else the checkpoint
    --ckpt_file or the ONNX file --file_name."""
    path = cfg.ckpt_file if cfg.given("ckpt_file") else cfg.file_name
    if exported_format(path) == "MINDIR":
        return MindirModel(path)
    return CheckpointModel(cfg) if cfg.given("ckpt_file") else OnnxModel(cfg)


def class_names(user_value, metadata, num_classes, source):
    """Names for the model's outputs: --class_names (text file or dataset folder), else the names recorded with
    the weights, else ImageNet-1k's for 1000 classes, else the class indices."""
    if user_value:
        names, origin = read_class_names(user_value), f"'{user_value}'"
    elif metadata.get(CLASS_NAMES_KEY):
        names, origin = list(metadata[CLASS_NAMES_KEY]), f"the names recorded in {source}"
    elif num_classes == 1000:
        names, origin = imagenet_class_names(), "the ImageNet-1k class names"
    else:
        return [str(index) for index in range(num_classes)]
    if len(names) != num_classes:
        raise UserError(f"{origin} give {len(names)} class names but the model has {num_classes} outputs: pass "
                        "--class_names with one name per class, in class-index order.")
    return names
