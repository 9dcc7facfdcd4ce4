"""Learning-rate schedule: linear warm-up from lr_init to lr_max, then cosine decay to lr_end."""
import math

import numpy as np


def get_lr(lr_init, lr_end, lr_max, warmup_epochs, total_epochs, steps_per_epoch):
    """One learning rate per step of the whole run (`total_epochs * steps_per_epoch` values, float32).

    Step i of epoch e (1-based) is entry (e - 1) * steps_per_epoch + i: a run that starts at
    `start_epoch` begins at entry (start_epoch - 1) * steps_per_epoch.
    """
    total = total_epochs * steps_per_epoch
    warmup = min(int(warmup_epochs * steps_per_epoch), total)
    lrs = np.empty(total, np.float32)
    for step in range(total):
        if step < warmup:
            lrs[step] = lr_init + (lr_max - lr_init) * step / warmup
        else:
            progress = (step - warmup) / max(total - warmup, 1)
            lrs[step] = lr_end + (lr_max - lr_end) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return lrs
