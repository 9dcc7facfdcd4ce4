"""Running an exported MINDIR classifier in MindSpore (nn.GraphCell over mindspore.load), with the metadata
export.py records in its user_info."""

import mindspore as ms
import numpy as np
from google.protobuf.message import DecodeError
from mindspore import nn, ops
from mindspore.train import mind_ir_pb2

from src.checkpoint import exported_metadata
from src.errors import UserError
from src.fileio import check_input_file


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
    (batch, classes). `batch_size` is the batch it was exported with (None if any); `cell` takes any batch
    up to it (and `predict` any number of images), padding a partial batch."""

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
        self.cell = graph if self.batch_size is None else _FixedBatch(graph, self.batch_size)

    def predict(self, images):
        """Log-probabilities (len(images), classes) for float32 `images` (n, 3, height, width)."""
        step = self.batch_size or max(1, len(images))
        return np.concatenate([self.cell(ms.Tensor(np.ascontiguousarray(images[start:start + step], np.float32)))
                               .asnumpy() for start in range(0, len(images), step)])
