"""Export a checkpoint to MINDIR, ONNX or AIR:
python export.py --config_path CFG --ckpt_file CKPT --device_target T --file_format {MINDIR,ONNX,AIR}

The model takes float32 images of shape (batch_size, 3, height, width) from the config and returns
log-probabilities (batch_size, num_classes). It is written to file_name plus the format's extension.
"""
import os

import mindspore as ms
import numpy as np

from src.checkpoint import load_params
from src.context import init_context
from src.errors import UserError, report_user_errors
from src.fileio import atomic_output
from src.inceptionv4 import create_network
from src.inference import check_batch_and_size, model_file
from src.model_utils.config import get_config
from src.model_utils.moxing_adapter import moxing_wrapper


def check_backend(file_format, device_target):
    """AIR is written by Ascend's graph engine (CANN): refuse it on other backends before compiling."""
    if file_format == "AIR" and device_target != "Ascend":
        raise UserError(f"file_format AIR needs the Ascend backend (the Ascend CANN toolkit writes it), but "
                        f"device_target is {device_target}: export MINDIR or ONNX here (--file_format MINDIR "
                        "or ONNX), or export AIR on an Ascend machine with --device_target Ascend.")


def modelarts_pre_process(cfg):
    """On ModelArts, write the model into output_path, which is copied to train_url afterwards."""
    cfg.file_name = os.path.join(cfg.output_path, cfg.file_name)


@moxing_wrapper(pre_process=modelarts_pre_process)
def run_export(cfg):
    """Load `cfg.ckpt_file` into the eval-mode network and export it; return the written path."""
    check_backend(cfg.file_format, cfg.device_target)
    check_batch_and_size(cfg)
    if not cfg.file_name:
        raise UserError("config key 'file_name' is empty: pass --file_name with the output path.")
    init_context(cfg)
    net = create_network(cfg, is_train=False)
    load_params(net, cfg.ckpt_file)
    images = ms.Tensor(np.zeros((cfg.batch_size, 3, cfg.height, cfg.width), np.float32))
    path = model_file(cfg.file_name, cfg.file_format)
    try:
        with atomic_output(path) as tmp:
            ms.export(net, images, file_name=tmp, file_format=cfg.file_format)
    except OSError as err:
        raise UserError(f"cannot write '{path}': {err.strerror or err}.") from None
    print(f"export: wrote {path} ({cfg.file_format}, input {cfg.batch_size}x3x{cfg.height}x{cfg.width} "
          f"float32, output {cfg.batch_size}x{cfg.num_classes} log-probabilities)", flush=True)
    return path


@report_user_errors
def main():
    run_export(get_config(description="Export Inception-v4 to MINDIR, ONNX or AIR."))


if __name__ == "__main__":
    main()
