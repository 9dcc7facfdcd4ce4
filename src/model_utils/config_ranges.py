"""Valid ranges of the numeric configuration keys, in one table that src/model_utils/config.py applies to every
value it loads (YAML file and command line) for every entry point.

Intervals are written as in mathematics: '[0, 1)' includes 0 and excludes 1; 'inf' has no bound. A list key
(image_mean, image_std) gives the range of each element and the number of elements.
"""
import math
import re

from src.errors import UserError

MIN_IMAGE_SIZE = 75
"""Inception-v4's smallest input side (src.inceptionv4.MIN_INPUT_SIZE; a test keeps them equal)."""

RANGES = {
    "modelarts_sync_timeout": ("(0, inf)", "seconds"),
    "device_id": ("[0, inf)", "a device number"),
    "width": (f"[{MIN_IMAGE_SIZE}, inf)", "Inception-v4's smallest input side"),
    "height": (f"[{MIN_IMAGE_SIZE}, inf)", "Inception-v4's smallest input side"),
    "num_classes": ("[2, inf)", "a classifier needs two classes or more"),
    "work_nums": ("[1, inf)", "data-loading workers"),
    "batch_size": ("[1, inf)", "images per step"),
    "epoch_size": ("[1, inf)", "epochs of training"),
    "start_epoch": ("[1, inf)", "epochs are counted from 1"),
    "loss_scale": ("[1, inf)", "a fixed loss scale multiplies the loss"),
    "smooth_factor": ("[0, 1)", "label smoothing; 0 disables it"),
    "weight_decay": ("[0, inf)", "0 disables it"),
    "momentum": ("[0, 1)", "RMSProp momentum"),
    "decay": ("[0, 1)", "RMSProp decay of the squared-gradient average"),
    "epsilon": ("(0, inf)", "RMSProp divides by the root of the average plus epsilon"),
    "bn_momentum": ("[0, 1]", "weight of the old BatchNorm statistics"),
    "lr_init": ("[0, inf)", "a negative rate would climb the loss"),
    "lr_end": ("[0, inf)", "a negative rate would climb the loss"),
    "lr_max": ("(0, inf)", "the peak learning rate"),
    "warmup_epochs": ("[0, inf)", "0 disables the warm-up"),
    "keep_checkpoint_max": ("[1, inf)", "checkpoints kept"),
    "save_checkpoint_epochs": ("[1, inf)", "epochs between checkpoints"),
    "save_checkpoint_steps": ("[0, inf)", "0 saves per save_checkpoint_epochs only"),
    "seed": ("[0, 4294967295]", "an unsigned 32-bit seed"),
    "dropout_keep_prob": ("(0, 1]", "fraction of features kept; 1 disables dropout"),
    "eval_interval": ("[1, inf)", "epochs between evaluations"),
    "profiling_steps": ("[1, inf)", "steps recorded by the profiler"),
    "crop_pct": ("(0, 1]", "fraction of the resized image kept by the centre crop"),
    "export_batch_size": ("[1, inf)", "images per call of the exported model"),
    "image_mean": ("(-inf, inf)", "per-channel R, G, B mean of 0-1 pixels", 3),
    "image_std": ("(0, inf)", "per-channel R, G, B standard deviation of 0-1 pixels", 3),
}
"""key: (interval, what it means[, number of elements of a list key])."""

_INTERVAL = re.compile(r"^([\[(])\s*([^,]+?)\s*,\s*([^,]+?)\s*([\])])$")


def parse_interval(text):
    """(low, high, low included, high included) of an interval such as '[0, 1)'."""
    match = _INTERVAL.match(text)
    if not match:
        raise ValueError(f"not an interval: {text!r}")
    opening, low, high, closing = match.groups()
    return float(low), float(high), opening == "[", closing == "]"


def describe_interval(text):
    """Words for an interval: 'at least 1', 'greater than 0' or 'in [0, 1)'."""
    low, high, low_in, _ = parse_interval(text)
    if math.isinf(high) and not math.isinf(low):
        bound = int(low) if low.is_integer() else low
        return f"at least {bound}" if low_in else f"greater than {bound}"
    if math.isinf(high):
        return "a finite number"
    return f"in {text}"


def in_interval(value, text):
    """True when the number `value` lies in the interval (NaN lies in none; infinity only where included)."""
    low, high, low_in, high_in = parse_interval(text)
    if math.isnan(value):
        return False
    above = value >= low if low_in else value > low
    below = value <= high if high_in else value < high
    return above and below


def check_range(key, value, where):
    """Raise UserError naming key, value and range when a numeric key's value is outside its range."""
    if key not in RANGES:
        return
    interval, meaning, *length = RANGES[key]
    if length:
        if len(value) != length[0] or not all(_is_number(item) and in_interval(item, interval) for item in value):
            raise UserError(f"config key '{key}' {where} is {value!r}; it must be {length[0]} numbers, each "
                            f"{describe_interval(interval)} ({meaning}).")
        return
    if not in_interval(value, interval):
        raise UserError(f"config key '{key}' {where} is {value!r}; it must be {describe_interval(interval)} "
                        f"({meaning}).")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)
