"""predict.py's parts: the images to classify, the model (a checkpoint or an exported MINDIR file in MindSpore,
or an ONNX file in onnxruntime), and the class names its outputs are reported with."""
import os
import stat

import mindspore as ms
import numpy as np

from src import interrupt
from src.checkpoint import AIR_HINT, checkpoint_metadata, exported_format
from src.class_names import imagenet_class_names, read_class_names
from src.data_files import IMAGE_EXTENSIONS
from src.errors import UserError
from src.fileio import unreachable
from src.image_check import image_data_problem, undecodable_format
from src.inference import load_network, onnx_path
from src.mindir_runner import MindirClassifier
from src.onnx_runner import OnnxClassifier
from src.preprocessing import resolve_image_size


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


def load_images(paths, preprocessing, height, width):
    """(paths kept, float32 array N x 3 x height x width) of every usable image of `paths` at once, as
    image_batches reads them; each file skipped is named on stdout with the reason."""
    batches = list(image_batches(paths, preprocessing, height, width, max(len(paths), 1),
                                 lambda path, reason: print(f"predict: skipped '{path}': {reason}", flush=True)))
    if not batches:
        raise UserError(f"none of the {len(paths)} file(s) given is a readable image.")
    return batches[0][0], batches[0][1]


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
