"""Settings and file names shared by the entry points (eval.py, export.py, eval_onnx.py; train.py for
the size check)."""
from src.checkpoint import assign_params, read_checkpoint
from src.errors import UserError
from src.folding import fold_batchnorm
from src.inceptionv4 import check_input_size, create_network

EXTENSIONS = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}


def model_file(file_name, file_format):
    """`file_name` with the extension of `file_format` appended unless it already ends with it."""
    extension = EXTENSIONS[file_format]
    return file_name if file_name.lower().endswith(extension) else file_name + extension


def check_batch_and_size(cfg):
    """UserError for a batch size below 1 or an image size the network cannot take."""
    if cfg.batch_size < 1:
        raise UserError(f"config key 'batch_size' must be at least 1, got {cfg.batch_size}.")
    try:
        check_input_size(cfg.height, cfg.width)
    except ValueError as err:
        raise UserError(str(err)) from None


def load_network(cfg, path, infer_classes=False):
    """The eval-mode network of `cfg` holding the weights of checkpoint `path`: (network, checkpoint dict).
    The one way eval.py, export.py and predict.py read a checkpoint. With `infer_classes` (predict.py) the
    class count is the checkpoint's unless --num_classes was given. With cfg.fold_batchnorm each conv's
    BatchNorm is folded into the conv (src/folding.py)."""
    params = read_checkpoint(path)
    dense = params.get("softmax.dense.weight")
    classes = cfg.num_classes
    if infer_classes and not cfg.given("num_classes") and dense is not None and len(dense.shape) == 2:
        classes = dense.shape[0]
    net = create_network(cfg, is_train=False, num_classes=classes)
    assign_params(net, params, path)
    if cfg.fold_batchnorm:
        fold_batchnorm(net)
    return net, params
