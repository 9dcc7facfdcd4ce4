"""Loading checkpoints into a network with clear errors: a missing file, a file that is not a
checkpoint, parameters of another shape (e.g. another num_classes) or parameters the file lacks."""
import os

import mindspore as ms

from src.errors import UserError
from src.fileio import atomic_output

_SHOWN = 5


def read_checkpoint(path):
    """Return the checkpoint's {name: Parameter}; UserError if it is missing or unreadable."""
    if not path:
        raise UserError("no checkpoint given: pass --checkpoint_path (eval), --ckpt_file (export) "
                        "or --resume (train) with a .ckpt file.")
    if not os.path.isfile(path):
        raise UserError(f"checkpoint '{path}' does not exist.")
    try:
        return ms.load_checkpoint(path)
    except (ValueError, RuntimeError, TypeError) as err:
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"'{path}' is not a readable MindSpore checkpoint ({detail}).") from None


def _names(items):
    items = sorted(items)
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def load_params(net, path):
    """Load every parameter of `net` from the checkpoint at `path` and return the checkpoint dict.

    Raises UserError naming the parameters whose shapes differ or that the checkpoint lacks, so a
    network is never left partly at its random initialisation.
    """
    params = read_checkpoint(path)
    wanted = {param.name: param for param in net.get_parameters()}
    missing = [name for name in wanted if name not in params]
    mismatched = [f"{name} {tuple(params[name].shape)} in the file vs {tuple(param.shape)} in the network"
                  for name, param in wanted.items() if name in params and params[name].shape != param.shape]
    if mismatched:
        raise UserError(f"checkpoint '{path}' does not fit the network: {'; '.join(mismatched[:_SHOWN])}"
                        f"{' and more' if len(mismatched) > _SHOWN else ''}. Is num_classes the one it was "
                        "trained with?")
    if missing:
        raise UserError(f"checkpoint '{path}' lacks {len(missing)} of the network's parameters "
                        f"({_names(missing)}): it was not saved from this Inception-v4.")
    ms.load_param_into_net(net, {name: params[name] for name in wanted}, strict_load=True)
    return params


def save_checkpoint(cell, path, append_dict=None):
    """Write `cell`'s parameters to `path` atomically: an interrupted save leaves the old file intact."""
    with atomic_output(path) as tmp:
        ms.save_checkpoint(cell, tmp, append_dict=append_dict)
