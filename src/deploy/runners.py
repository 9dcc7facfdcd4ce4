"""Running an exported classifier: ONNX with onnxruntime on the CPU or a CUDA GPU, MINDIR in MindSpore
(nn.GraphCell over mindspore.load), each with the metadata export.py records in it.
"""
import os

import mindspore as ms
import numpy as np
import onnxruntime as ort
from google.protobuf.message import DecodeError
from mindspore import nn, ops
from mindspore.train import mind_ir_pb2
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from src.checkpoint import (METADATA_KEY, checkpoint_metadata, encode_metadata, exported_format, exported_metadata,
                            read_checkpoint)
from src.runtime.fileio import check_input_file
from src.runtime.stops import UserError


PROVIDERS = {"CPU": "CPUExecutionProvider", "GPU": "CUDAExecutionProvider"}
_LOAD_ERRORS = (ort_errors.InvalidProtobuf, ort_errors.InvalidGraph, ort_errors.Fail, ort_errors.NotImplemented,
                ort_errors.InvalidArgument)


def _provider(device_target):
    """The onnxruntime execution provider for `device_target`; UserError if this install lacks it."""
    if device_target not in PROVIDERS:
        raise UserError(f"onnxruntime runs ONNX models on CPU or GPU, not on {device_target}: pass "
                        "--device_target CPU or GPU.")
    provider = PROVIDERS[device_target]
    available = ort.get_available_providers()
    if provider not in available:
        hint = " (install onnxruntime-gpu and CUDA for GPU)" if device_target == "GPU" else ""
        raise UserError(f"device_target {device_target} needs onnxruntime's {provider}, which this "
                        f"onnxruntime {ort.__version__} lacks{hint}; available providers: "
                        f"{', '.join(available)}. Use --device_target CPU to run on the CPU.")
    return provider


def record_onnx_metadata(path, metadata, traced_batch=None):
    """Store `metadata` (JSON) in the ONNX file's metadata_props under METADATA_KEY, rewriting `path`; with
    `traced_batch`, also make its batch dimension dynamic (`make_batch_dynamic`)."""
    import onnx
    model = onnx.load(path)
    entry = next((prop for prop in model.metadata_props if prop.key == METADATA_KEY), None) or \
        model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, encode_metadata(metadata)
    if traced_batch is not None:
        make_batch_dynamic(model, traced_batch)
    onnx.save(model, path)


BATCH_DIM = "batch"
"""Name of the dynamic batch dimension of export.py --dynamic_batch True files."""


def make_batch_dynamic(model, traced_batch):
    """Let the ONNX `model`, exported by mindspore.onnx.export with a dynamic input batch from a trace at
    `traced_batch` images, run at any batch: the output's batch dimension becomes symbolic and the Reshapes
    of the BatchNorm1d layers, whose target shapes the trace fixed at (traced_batch, C, 1, 1) and
    (traced_batch, C), copy the batch from their input instead (ONNX Reshape: 0 = the input's dimension)."""
    from onnx import numpy_helper
    shapes = {node.output[0]: node.attribute[0] for node in model.graph.node if node.op_type == "Constant"}
    shapes.update({init.name: init for init in model.graph.initializer})
    for node in model.graph.node:
        if node.op_type != "Reshape":
            continue
        holder = shapes[node.input[1]]
        tensor = holder.t if hasattr(holder, "t") else holder
        target = numpy_helper.to_array(tensor).copy()
        if target[0] == traced_batch:
            target[0] = 0
            tensor.CopyFrom(numpy_helper.from_array(target, tensor.name))
    for value in model.graph.output:
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM
    del model.graph.value_info[:]  # shapes inferred at the traced batch



def padded_batches(images, batch_size):
    """(batch, count) for each `batch_size` images of `images` in turn, the last batch completed with zero images
    after its `count` real ones (their outputs are dropped; in eval mode they change no real image's output)."""
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        batch = np.zeros((batch_size,) + chunk.shape[1:], np.float32)
        batch[:len(chunk)] = chunk
        yield batch, len(chunk)


class OnnxClassifier:
    """An image classifier exported to ONNX: images (batch, 3, height, width) float32 -> scores
    (batch, classes).

    `batch_size` is the batch the model was exported with (None if it takes any batch). `predict`
    takes any number of images and runs them in batches of that size, padding the last one with
    zero images whose outputs are dropped, so every image is scored once and only real images count.
    """

    def __init__(self, path, device_target):
        provider = _provider(device_target)
        if not os.path.isfile(path):
            raise UserError(f"ONNX model '{os.path.abspath(path)}' does not exist: export one with "
                            "'python export.py --file_format ONNX' and pass its path with --file_name.")
        try:
            self.session = ort.InferenceSession(path, providers=[provider])
        except _LOAD_ERRORS as err:
            detail = str(err).strip().splitlines()[0]
            raise UserError(f"'{path}' is not a loadable ONNX model ({detail}).") from None
        if self.session.get_providers()[0] != provider:
            raise UserError(f"onnxruntime could not start {provider} for '{path}' (it fell back to "
                            f"{self.session.get_providers()[0]}): check the CUDA installation or use "
                            "--device_target CPU.")
        model_input = self.session.get_inputs()[0]
        shape = model_input.shape
        if len(shape) != 4 or shape[1] != 3 or not all(isinstance(d, int) for d in shape[2:]):
            raise UserError(f"'{path}' takes input '{model_input.name}' of shape {shape}, not images "
                            "(batch, 3, height, width) of a fixed size: is it an exported classifier?")
        self.path = path
        self.input_name = model_input.name
        self.batch_size = shape[0] if isinstance(shape[0], int) else None
        self.height, self.width = shape[2], shape[3]
        self.num_classes = self.session.get_outputs()[0].shape[-1]
        self.metadata = exported_metadata(self.session.get_modelmeta().custom_metadata_map, path)

    def predict(self, images):
        """Scores (len(images), classes) for float32 `images` (n, 3, height, width)."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        if self.batch_size is None:
            return self.session.run(None, {self.input_name: images})[0]
        return np.concatenate([self.session.run(None, {self.input_name: batch})[0][:count]
                               for batch, count in padded_batches(images, self.batch_size)])


def data_config(cfg, model, tool):
    """`cfg` with batch_size, height and width set to `model`'s fixed input shape (a note names each
    change), so that the data pipeline feeds the model what it was exported for."""
    changes = {}
    for key in ("batch_size", "height", "width"):
        wanted = getattr(model, key)
        if wanted is not None and getattr(cfg, key) != wanted:
            print(f"{tool}: using {key} {wanted} of '{model.path}' instead of {getattr(cfg, key)} from the "
                  "config", flush=True)
            changes[key] = wanted
    return cfg.replace(**changes)


def _read_proto(path):
    """The MindIR ModelProto of `path` (what mindspore.load_mindir returned before its deprecation)."""
    proto = mind_ir_pb2.ModelProto()
    try:
        with open(path, "rb") as stream:
            proto.ParseFromString(stream.read())
        dims = [list(proto.graph.input[0].tensor[0].dims), list(proto.graph.output[0].tensor[0].dims)]
    except (DecodeError, IndexError):
        raise UserError(f"'{path}' is not a MINDIR model (it cannot be read as MindIR): export one with "
                        "'python export.py --file_format MINDIR'.") from None
    return proto, dims


class _FixedBatch(nn.Cell):
    """The model's graph for batches of any size up to the fixed `batch`: a smaller batch is completed with
    zero images whose outputs are dropped (eval mode: they change no real image's output)."""

    def __init__(self, graph, batch):
        super().__init__()
        self.graph = graph
        self.batch = batch

    def construct(self, images):
        count = images.shape[0]
        if count == self.batch:
            return self.graph(images)
        padding = ops.zeros((self.batch - count,) + images.shape[1:], images.dtype)
        return self.graph(ops.concat((images, padding)))[:count]


class MindirClassifier:
    """An image classifier exported to MINDIR: images (batch, 3, height, width) float32 -> log-probabilities
    (batch, classes). `batch_size` is the batch it was exported with (None if any). `cell` (a Cell for
    MindSpore's Model, as eval.py runs it) takes any batch up to it, completing a partial batch in the graph;
    `predict` takes any number of images, in batches of that size with the last one padded, as OnnxClassifier."""

    def __init__(self, path):
        check_input_file(path, "MINDIR model", "export one with 'python export.py --file_format MINDIR'.")
        proto, (inputs, outputs) = _read_proto(path)
        if len(inputs) != 4 or inputs[1] != 3 or min(inputs[2:]) < 1 or len(outputs) != 2:
            raise UserError(f"'{path}' takes input of shape {inputs} and returns {outputs}, not images "
                            "(batch, 3, height, width) -> (batch, classes): is it an exported classifier?")
        self.path = path
        self.batch_size = inputs[0] if inputs[0] > 0 else None
        self.height, self.width = inputs[2:]
        self.num_classes = outputs[1]
        self.metadata = exported_metadata(proto.user_info, path)
        # The file's graph runs compiled either way; graph mode cannot compile a cell that calls it (MindSpore
        # 2.10: "The pointer[fg] is null"), such as _FixedBatch or eval.py's Model.
        ms.set_context(mode=ms.PYNATIVE_MODE)
        try:
            graph = nn.GraphCell(ms.load(path))
        except (RuntimeError, ValueError) as err:
            detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"MindSpore cannot load '{path}' ({detail}).") from None
        self.graph = graph
        self.cell = graph if self.batch_size is None else _FixedBatch(graph, self.batch_size)

    def predict(self, images):
        """Log-probabilities (len(images), classes) for float32 `images` (n, 3, height, width)."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        if self.batch_size is None:
            return self.graph(ms.Tensor(images)).asnumpy()
        return np.concatenate([self.graph(ms.Tensor(batch)).asnumpy()[:count]
                               for batch, count in padded_batches(images, self.batch_size)])


def model_file_metadata(path):
    """The metadata a model file records: an ONNX file's metadata_props, a MINDIR file's user_info, a checkpoint's
    entry; {} when it records none. UserError when the file cannot be read as what its extension says."""
    kind = exported_format(path)
    if kind == "ONNX":
        import onnx  # pylint: disable=import-outside-toplevel
        try:
            props = {prop.key: prop.value for prop in onnx.load(path, load_external_data=False).metadata_props}
        except Exception as err:  # pylint: disable=broad-except  # any parse failure: not an ONNX file
            raise UserError(f"'{os.path.abspath(path)}' is not a readable ONNX model ({type(err).__name__}).") \
                from None
        return exported_metadata(props, path)
    if kind == "MINDIR":
        return exported_metadata(_read_proto(path)[0].user_info, path)
    return checkpoint_metadata(read_checkpoint(path), path)
