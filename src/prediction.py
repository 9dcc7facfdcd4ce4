"""predict.py's parts: the images to classify, the model (a checkpoint or an exported MINDIR file in MindSpore,
or an ONNX file in onnxruntime), and the class names its outputs are reported with."""
import os

import mindspore as ms
import numpy as np

from src import interrupt
from src.checkpoint import AIR_HINT, checkpoint_metadata, exported_format
from src.class_names import imagenet_class_names, read_class_names
from src.data_files import IMAGE_EXTENSIONS
from src.errors import UserError
from src.image_check import image_data_problem
from src.inference import load_network, onnx_path
from src.mindir_runner import MindirClassifier
from src.onnx_runner import OnnxClassifier
from src.preprocessing import resolve_image_size


def list_images(path):
    """`path` itself, or every file under the folder `path` (sorted, sub-folders included)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise UserError(f"--image '{os.path.abspath(path)}' does not exist: pass an image file or a folder of images.")
    files = sorted(os.path.join(root, name) for root, _, names in os.walk(path) for name in names)
    if not files:
        raise UserError(f"--image folder '{os.path.abspath(path)}' holds no files.")
    return files


def load_images(paths, preprocessing, height, width, warn=print):
    """(paths kept, float32 array N x 3 x height x width) through the evaluation preprocessing. Files that are
    not images are skipped with a warning; damaged images are named and skipped."""
    ops = preprocessing.eval_ops(height, width)
    kept, images = [], []
    for path in paths:
        with open(path, "rb") as stream:
            data = stream.read()
        problem = image_data_problem(data)
        is_image_name = path.lower().endswith(IMAGE_EXTENSIONS)
        if problem and not is_image_name and problem.startswith("not a"):
            warn(f"predict: skipped '{path}': not an image", flush=True)
            continue
        try:
            if problem:
                raise ValueError(problem)
            image = np.frombuffer(data, np.uint8)
            for op in ops:
                image = op(image)
        except (RuntimeError, ValueError, OSError) as err:
            warn(f"predict: skipped '{path}': damaged image ({str(err).strip().splitlines()[0]})", flush=True)
            continue
        kept.append(path)
        images.append(image)
    if not kept:
        raise UserError(f"none of the {len(paths)} file(s) given with --image is a readable image.")
    return kept, np.stack(images).astype(np.float32)


class CheckpointModel:
    """A checkpoint in MindSpore (eval mode), run in batches of cfg.batch_size (the last one padded), at the
    input size recorded with it (src.preprocessing.resolve_image_size)."""

    def __init__(self, cfg):
        self.net, params = load_network(cfg, cfg.ckpt_file, infer_classes=True)
        self.metadata = checkpoint_metadata(params)
        self.num_classes = self.net.softmax.dense.weight.shape[0]
        self.source = f"'{cfg.ckpt_file}'"
        cfg = resolve_image_size(cfg, self.metadata, self.source)
        self.height, self.width, self.batch_size = cfg.height, cfg.width, cfg.batch_size

    def predict(self, images):
        """Log-probabilities of `images`. A signal stops after the current batch (src.interrupt; a second one
        at once: the first batch compiles the graph)."""
        outputs = []
        with interrupt.safe_points():
            for start in range(0, len(images), self.batch_size):
                chunk = images[start:start + self.batch_size]
                padded = np.zeros((self.batch_size,) + chunk.shape[1:], np.float32)
                padded[:len(chunk)] = chunk  # eval mode: the zero padding does not change the real images' outputs
                with interrupt.exit_at_once():
                    outputs.append(self.net(ms.Tensor(padded)).asnumpy()[:len(chunk)])
                interrupt.check()
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
    elif metadata.get("class_names"):
        names, origin = list(metadata["class_names"]), f"the names recorded in {source}"
    elif num_classes == 1000:
        names, origin = imagenet_class_names(), "the ImageNet-1k class names"
    else:
        return [str(index) for index in range(num_classes)]
    if len(names) != num_classes:
        raise UserError(f"{origin} give {len(names)} class names but the model has {num_classes} outputs: pass "
                        "--class_names with one name per class, in class-index order.")
    return names
