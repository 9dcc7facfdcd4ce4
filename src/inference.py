"""Settings and file names shared by the entry points (eval.py, export.py, eval_onnx.py; train.py for
the size check)."""
from src.errors import UserError
from src.inceptionv4 import check_input_size

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
