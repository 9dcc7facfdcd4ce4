"""Run as a script (mindcv prints Cell.__del__ noise at interpreter exit, so tests keep it in a subprocess): the
evaluation tensors mindcv 0.3.0's own `create_transforms` makes of image files, with the settings of mindcv's
configs/inceptionv4 (crop_pct 0.875, bilinear).

    python tests/mindcv_transforms.py OUT.npy SIZE IMAGE...   ->  OUT.npy: float32 N x 3 x SIZE x SIZE
"""
import sys

import mindspore.dataset.transforms as T
import numpy as np
from mindcv.data import create_transforms


def main(out, size, paths):
    transform = T.Compose(create_transforms("imagenet", image_resize=size, is_training=False, crop_pct=0.875,
                                            interpolation="bilinear"))
    np.save(out, np.stack([transform(np.fromfile(path, np.uint8)) for path in paths]).astype(np.float32))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
