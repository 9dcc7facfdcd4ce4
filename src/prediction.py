"""predict.py's parts: the images to classify, the model (a checkpoint in MindSpore or an ONNX file in
onnxruntime), and the class names its outputs are reported with."""
import os

import mindspore as ms
import numpy as np

from src import interrupt
from src.checkpoint import checkpoint_metadata
from src.class_names import imagenet_class_names, read_class_names
from src.data_files import IMAGE_EXTENSIONS
from src.errors import UserError
from src.image_check import image_data_problem
from src.inference import load_network, model_file
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


class OnnxModel:
    """An exported ONNX file in onnxruntime; its input size and recorded metadata come from the file."""

    def __init__(self, cfg):
        self.classifier = OnnxClassifier(model_file(cfg.file_name, "ONNX"), cfg.device_target)
        self.metadata = self.classifier.metadata
        self.num_classes = self.classifier.num_classes
        self.height, self.width = self.classifier.height, self.classifier.width
        self.source = f"'{self.classifier.path}'"

    def predict(self, images):
        return self.classifier.predict(images)


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
