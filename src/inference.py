"""Settings and file names shared by the entry points (eval.py, export.py, eval_onnx.py, predict.py)."""
from src.checkpoint import assign_params, checkpoint_num_classes, read_checkpoint
from src.folding import fold_batchnorm
from src.inceptionv4 import create_network

EXTENSIONS = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}


def model_file(file_name, file_format):
    """`file_name` with the extension of `file_format` appended unless it already ends with it."""
    extension = EXTENSIONS[file_format]
    return file_name if file_name.lower().endswith(extension) else file_name + extension


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
