"""Run as a script (mindcv prints Cell.__del__ noise at interpreter exit, so tests keep it in a subprocess):
build mindcv's own `inception_v4`, give it random weights and non-trivial BatchNorm statistics, save its
checkpoint and its eval-mode log-softmax outputs for a fixed input.

    python tests/mindcv_reference.py OUT_DIR NUM_CLASSES SIZE   ->  OUT_DIR/mindcv.ckpt, OUT_DIR/{input,logp}.npy
"""
import os
import sys

import mindspore as ms
import numpy as np
from mindcv.models import create_model


def main(out_dir, num_classes, size):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    rng = np.random.default_rng(3)
    net = create_model("inception_v4", num_classes=num_classes, pretrained=False)
    for param in net.get_parameters():
        shape = param.shape
        if param.name.endswith("moving_variance"):
            value = rng.uniform(0.5, 2.0, shape)
        elif param.name.endswith(("moving_mean", "beta")):
            value = rng.uniform(-0.3, 0.3, shape)
        elif param.name.endswith("gamma"):
            value = rng.uniform(0.5, 1.5, shape)
        elif param.name == "classifier.bias":
            value = rng.uniform(-0.1, 0.1, shape)
        else:
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
        param.set_data(ms.Tensor(value.astype(np.float32)))
    net.set_train(False)
    images = rng.standard_normal((2, 3, size, size)).astype(np.float32)
    logits = net(ms.Tensor(images)).asnumpy().astype(np.float64)
    logp = logits - logits.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    ms.save_checkpoint(net, os.path.join(out_dir, "mindcv.ckpt"))
    np.save(os.path.join(out_dir, "input.npy"), images)
    np.save(os.path.join(out_dir, "logp.npy"), logp.astype(np.float32))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
