"""Settings and file names shared by the entry points (eval.py, export.py, eval_onnx.py, predict.py)."""
import os

from src.checkpoint import EXPORT_EXTENSIONS, assign_params, checkpoint_num_classes, exported_format, read_checkpoint
from src.errors import UserError
from src.folding import fold_batchnorm
from src.inceptionv4 import create_network


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
    BatchNorm is folded into the conv (src/folding.py)."""
    params = read_checkpoint(path)
    classes = cfg.num_classes
    if infer_classes and not cfg.given("num_classes"):
        classes = checkpoint_num_classes(params) or classes
    net = create_network(cfg, is_train=False, num_classes=classes)
    assign_params(net, params, path)
    if cfg.fold_batchnorm:
        fold_batchnorm(net)
    return net, params
