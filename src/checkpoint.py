"""The weights' contract: loading checkpoints into a network with clear errors (a missing file, a file that is
not a checkpoint, parameters of another shape, e.g. another num_classes, or parameters the file lacks), atomic
saving, and the metadata every weight file carries (METADATA_KEY, its keys, one writer and one reader for
checkpoints, ONNX and MINDIR files). MindSpore is imported where a checkpoint is read or written, so that
src/inputs/ uses the keys without it.
"""
import json
import os

from src.runtime.context import use_available_memory_for_checkpoints
from src.runtime.fileio import atomic_output, check_input_file
from src.runtime.stops import UserError

_SHOWN = 5


CONVERT_HINT = "python -m src.tools.convert_checkpoint --source {source} --input {path} --output CONVERTED.ckpt"

_TORCH_EXTENSIONS = (".safetensors", ".pth", ".pt", ".bin")
EXPORT_EXTENSIONS = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}
"""File extension of each format export.py writes."""
AIR_HINT = "AIR files run on Ascend 310 with scripts/run_infer_310.sh"
_EXPORTED_HINTS = {
    "ONNX": "pass ONNX files with --file_name (predict.py, eval_onnx.py)",
    "MINDIR": "predict.py (--file_name) and eval.py (--checkpoint_path) run it",
    "AIR": AIR_HINT,
}


def read_checkpoint(path):
    """Return the checkpoint's {name: Parameter}; UserError if it is missing or unreadable."""
    if not path:
        raise UserError("no checkpoint given: pass --checkpoint_path (eval), --ckpt_file (export) "
                        "or --resume (train) with a .ckpt file.")
    check_input_file(path, "checkpoint", "pass an existing .ckpt file.")
    exported = exported_format(path)
    if exported:
        raise UserError(f"'{path}' is an exported {exported} model, not a MindSpore checkpoint: "
                        f"{_EXPORTED_HINTS[exported]}; training and export.py need the .ckpt file it was "
                        "exported from.")
    if os.path.getsize(path) == 0:
        raise UserError(f"checkpoint '{os.path.abspath(path)}' is empty (0 bytes): it was not written completely; "
                        "copy or save it again, or pass another .ckpt file.")
    if path.lower().endswith(_TORCH_EXTENSIONS):
        raise UserError(f"'{path}' is a PyTorch/safetensors weight file, not a MindSpore checkpoint: convert "
                        f"it first with {CONVERT_HINT.format(source='timm', path=path)}")
    import mindspore as ms  # pylint: disable=import-outside-toplevel
    use_available_memory_for_checkpoints()  # MindSpore 2.10 compares checkpoint sizes with MemFree
    try:
        return ms.load_checkpoint(path)
    except (ValueError, RuntimeError, TypeError) as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"'{path}' is not a readable MindSpore checkpoint ({detail}).") from None


def exported_format(path):
    """'MINDIR', 'ONNX' or 'AIR' when `path` has the extension of a file export.py writes, else None."""
    return next((fmt for fmt, extension in EXPORT_EXTENSIONS.items() if path.lower().endswith(extension)), None)


LAYOUT_MARKERS = {
    "original": "features.0.conv2d_1a_3x3.conv.conv.weight",
    "mindcv": "features.0.conv2d_1a_3x3.conv.weight",
    "timm": "features.0.conv.weight",
}
"""One parameter name that only checkpoints of each known Inception-v4 layout hold."""


def detect_layout(names):
    """'original', 'mindcv', 'timm' or None, from a checkpoint's parameter names."""
    return next((layout for layout, marker in LAYOUT_MARKERS.items() if marker in names), None)


def foreign_layout(names, path):
    """A message naming the layout of a checkpoint whose parameter `names` are not the original model
    zoo's (this network's), with what to do; None when the layout is not recognised."""
    layout = detect_layout(names)
    if layout == "mindcv":
        return (f"checkpoint '{path}' is a mindcv Inception-v4 checkpoint (names such as "
                "'features.0.conv2d_1a_3x3.conv.weight', 'classifier.weight'), not the original model zoo's "
                f"layout: convert it first with {CONVERT_HINT.format(source='mindcv', path=path)}")
    if layout == "timm":
        return (f"checkpoint '{path}' holds timm's Inception-v4 names ('features.0.conv.weight', "
                "'last_linear.weight'), not the original model zoo's layout: convert timm's weights with "
                f"{CONVERT_HINT.format(source='timm', path='model.safetensors')}")
    return None


def shown_names(items):
    """The sorted names, the first few of them with how many more there are (for error messages)."""
    items = sorted(items)
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def checkpoint_num_classes(params):
    """The class count of a checkpoint dict (rows of softmax.dense.weight), or None when it has no such matrix."""
    dense = params.get("softmax.dense.weight")
    return dense.shape[0] if dense is not None and len(dense.shape) == 2 else None


def assign_params(net, params, path, skip=()):
    """Load `net`'s parameters, except the names in `skip`, from the checkpoint dict `params` read from
    `path`; UserError (nothing loaded) when a layout, a name or a shape does not fit."""
    wanted = {param.name: param for param in net.get_parameters() if param.name not in skip}
    missing = [name for name in wanted if name not in params]
    mismatched = [f"{name} {tuple(params[name].shape)} in the file vs {tuple(param.shape)} in the network"
                  for name, param in wanted.items() if name in params and params[name].shape != param.shape]
    foreign = foreign_layout(params, path) if missing else None
    if foreign:
        raise UserError(foreign)
    if mismatched:
        raise UserError(f"checkpoint '{path}' does not fit the network: {'; '.join(mismatched[:_SHOWN])}"
                        f"{' and more' if len(mismatched) > _SHOWN else ''}. Is num_classes the one it was "
                        "trained with?")
    if missing:
        raise UserError(f"checkpoint '{path}' lacks {len(missing)} of the network's parameters "
                        f"({shown_names(missing)}): it is not a checkpoint of the original model zoo's Inception-v4 "
                        "(or of this port).")
    values = {param.name: param for param in net.get_parameters()}  # skipped ones keep their own values
    values.update({name: params[name] for name in wanted})
    import mindspore as ms  # pylint: disable=import-outside-toplevel
    ms.load_param_into_net(net, values, strict_load=True)


METADATA_KEY = "inceptionv4_metadata"
"""The entry holding a JSON object of facts that travel with the weights: a checkpoint entry, an ONNX file's
metadata_props, a MINDIR file's user_info (the original's checkpoints have none). Its keys:"""
PREPROCESSING_KEY = "preprocessing"
"""the evaluation preprocessing (src.inputs.preprocessing.Preprocessing.to_dict)"""
IMAGE_SIZE_KEY = "image_size"
"""the [height, width] the weights were trained (or converted) at"""
CLASS_NAMES_KEY = "class_names"
"""the class names in output order"""
CLASS_IDS_KEY = "class_ids"
"""their WordNet ids, for ImageNet-style data"""
NUM_CLASSES_KEY = "num_classes"
"""the output count (exported files)"""
TRAINING_KEY = "training"
"""the training position and run id (src.training.runs)"""


def weights_metadata(preprocessing, height, width, class_names=None, class_ids=None):
    """The metadata of weights fed `preprocessing` (src.inputs.preprocessing.Preprocessing) at height x width,
    with their classes when known."""
    metadata = {PREPROCESSING_KEY: preprocessing.to_dict(), IMAGE_SIZE_KEY: [height, width]}
    if class_names:
        metadata[CLASS_NAMES_KEY] = class_names
    if class_ids:
        metadata[CLASS_IDS_KEY] = class_ids
    return metadata


def encode_metadata(metadata):
    """The METADATA_KEY text of the dict `metadata`."""
    return json.dumps(metadata, ensure_ascii=False, sort_keys=True)


def decode_metadata(text, path):
    """The metadata dict of the METADATA_KEY text of the weight file `path` ({} when it has none); UserError
    when the text is not a JSON object."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise UserError(f"'{path}' holds unreadable {METADATA_KEY} metadata (not a JSON object): save or export it "
                        "again (train.py, export.py).")
    return value


def checkpoint_metadata(params, path="the checkpoint"):
    """The metadata dict of a checkpoint dict from `read_checkpoint` (of file `path`); {} if none."""
    text = params.get(METADATA_KEY)
    return decode_metadata(text if isinstance(text, str) else None, path)


def exported_metadata(properties, path):
    """The metadata dict of an exported file's `properties` (ONNX metadata_props, MINDIR user_info); {} if none."""
    return decode_metadata(properties.get(METADATA_KEY), path)


def save_checkpoint(cell, path, append_dict=None, metadata=None):
    """Write `cell`'s parameters (plus `append_dict` entries and the JSON-serialisable `metadata` dict)
    to `path` atomically: an interrupted save leaves the old file intact."""
    extra = dict(append_dict or {})
    if metadata:
        extra[METADATA_KEY] = encode_metadata(metadata)
    with atomic_output(path) as tmp:
        import mindspore as ms  # pylint: disable=import-outside-toplevel
        ms.save_checkpoint(cell, tmp, append_dict=extra or None)
