"""Export a checkpoint to MINDIR, ONNX or AIR:
python export.py --config_path CFG --ckpt_file CKPT --device_target T --file_format {MINDIR,ONNX,AIR}
                 [--export_batch_size N] [--dynamic_batch True]

The model takes float32 images of shape (export_batch_size, 3, height, width) and returns log-probabilities
(export_batch_size, num_classes). export_batch_size is 1 unless set, as in the original, whose inference app
feeds one image at a time; an ONNX file exported with --dynamic_batch True takes any batch (input 'images'
and output 'log_probs' of batch dimension 'batch'). It is written to file_name plus the format's extension.
"""
# pylint: disable=wrong-import-position
if __name__ == "__main__":  # before any import starts a thread (src/runtime/stops.py)
    from src.runtime.stops import catch_signals
    catch_signals()

import os

import mindspore as ms
import numpy as np

from src.checkpoint import METADATA_KEY, NUM_CLASSES_KEY, encode_metadata, weights_metadata
from src.inputs.files import model_classes
from src.inputs.preprocessing import resolve_preprocessing
from src.deploy.inference import model_file, open_checkpoint
from src.deploy.runners import BATCH_DIM, record_onnx_metadata
from src.model_utils.config import get_config
from src.model_utils.moxing_adapter import moxing_wrapper
from src.runtime import stops
from src.runtime.context import init_context
from src.runtime.fileio import atomic_output, prepare_output_file
from src.runtime.stops import UserError


def check_backend(file_format, device_target):
    """AIR is written by Ascend's graph engine (CANN): refuse it on other backends before compiling."""
    if file_format == "AIR" and device_target != "Ascend":
        raise UserError(f"file_format AIR needs the Ascend backend (the Ascend CANN toolkit writes it), but "
                        f"device_target is {device_target}: export MINDIR or ONNX here (--file_format MINDIR "
                        "or ONNX), or export AIR on an Ascend machine with --device_target Ascend.")


def check_dynamic_batch(cfg):
    """A batch-dynamic model is written for ONNX only: refuse dynamic_batch with another format."""
    if cfg.dynamic_batch and cfg.file_format != "ONNX":
        raise UserError(f"dynamic_batch True writes a batch-dynamic ONNX file, but file_format is {cfg.file_format}: "
                        f"pass --file_format ONNX, or --dynamic_batch False for a {cfg.file_format} file of batch "
                        "export_batch_size.")


def export_file_in_output_dir(cfg):
    """On ModelArts, write the model into output_path, which is copied to train_url afterwards."""
    return cfg.replace(file_name=os.path.join(cfg.output_path, cfg.file_name))


def metadata_for_export(cfg, recorded):
    """What the exported file records (ONNX metadata_props / MINDIR user_info under METADATA_KEY): the
    preprocessing the weights need (recorded, or the config's), the input size and, when known, the class names
    and WordNet ids."""
    prep = resolve_preprocessing(cfg, recorded, f"'{cfg.ckpt_file}'")
    print(prep.describe(cfg.height, cfg.width), "(recorded in the exported file)", flush=True)
    return {**weights_metadata(prep, cfg.height, cfg.width, *model_classes(recorded)), NUM_CLASSES_KEY: cfg.num_classes}


@moxing_wrapper(pre_process=export_file_in_output_dir)
def run_export(cfg):
    """Load `cfg.ckpt_file` into the eval-mode network and export it; return the written path."""
    check_backend(cfg.file_format, cfg.device_target)
    check_dynamic_batch(cfg)
    if not cfg.file_name:
        raise UserError("config key 'file_name' is empty: pass --file_name with the output path.")
    path = prepare_output_file(model_file(cfg.file_name, cfg.file_format), "exported model (file_name)")
    init_context(cfg)
    net, recorded, cfg = open_checkpoint(cfg, cfg.ckpt_file)
    metadata = metadata_for_export(cfg, recorded)
    batch = cfg.export_batch_size
    images = ms.Tensor(np.zeros((batch, 3, cfg.height, cfg.width), np.float32))
    not_written = f"'{path}' was not written"
    try:
        with atomic_output(path) as tmp, stops.safe_points(), stops.exit_at_once(not_written, [tmp]):
            if cfg.file_format == "ONNX":  # mindspore.export(file_format='ONNX') is deprecated in favour of it
                dynamic = {"dynamic_axes": {"images": {0: BATCH_DIM}}} if cfg.dynamic_batch else {}
                ms.onnx.export(net, images, file_name=tmp, input_names=["images"], output_names=["log_probs"],
                               **dynamic)
                record_onnx_metadata(tmp, metadata, batch if cfg.dynamic_batch else None)
            elif cfg.file_format == "MINDIR":
                ms.export(net, images, file_name=tmp, file_format="MINDIR",
                          custom_func=lambda model: model.user_info.update({METADATA_KEY: encode_metadata(metadata)}))
            else:
                ms.export(net, images, file_name=tmp, file_format=cfg.file_format)
            stops.check()  # a signal during the export: the finished file is discarded (a second one: at once)
    except OSError as err:
        raise UserError(f"cannot write '{path}': {err.strerror or err}.") from None
    except stops.Interrupted as stop:
        stop.detail = not_written
        raise
    shown, hint = (("any", "--dynamic_batch False fixes it") if cfg.dynamic_batch else
                   (str(batch), "--export_batch_size sets the batch" +
                    (", --dynamic_batch True lets it vary" if cfg.file_format == "ONNX" else "")))
    size = "N" if cfg.dynamic_batch else batch
    print(f"export: wrote {path} ({cfg.file_format}, batch size {shown}: input {size}x3x{cfg.height}x{cfg.width} "
          f"float32, output {size}x{cfg.num_classes} log-probabilities; {hint})", flush=True)
    return path


@stops.entry_point
def main():
    run_export(get_config(description="Export Inception-v4 to MINDIR, ONNX or AIR."))


if __name__ == "__main__":
    main()
