"""Configuration: a YAML file of three documents (values, help text, allowed choices) plus command-line
overrides, checked against the reference schema in `default_config.yaml` and the value ranges of `RANGES`.

    cfg = get_config(["--batch_size", "32"])        # raises UserError on bad input

RANGES holds the valid ranges of the numeric keys, applied to every value loaded (YAML file and command line)
for every entry point. Intervals are written as in mathematics: '[0, 1)' includes 0 and excludes 1; 'inf' has
no bound. A list key (image_mean, image_std) gives the range of each element and the number of elements.

The original model zoo's configuration keys are accepted, so that its three YAML files work here unchanged:

- `platform` is the original's second name for `device_target`: alone it sets it; beside it, the two must agree.
- Keys the original's files set but its code never used are accepted and dropped (UNUSED_KEYS).
- Keys that all three original files have (ORIGINAL_KEYS) must be present in a config file; any other key of
  this port (added since, or missing from one of the original's files) takes default_config.yaml's value.
"""
import argparse
import difflib
import math
import os
import re
import sys

import yaml

from src.runtime.fileio import check_input_file
from src.runtime.stops import UserError


ALIAS = ("platform", "device_target")

UNUSED_KEYS = {
    "is_distributed": "distribution follows the launcher (RANK_SIZE, msrun, mpirun), as in the original",
    "group_size": "the device count comes from the launcher, as in the original",
    "ckpt_save_dir": "checkpoints go to ckpt_path",
    "num_parallel_workers": "the original's eval_onnx.py read it; here work_nums sets every pipeline's workers",
}
"""Keys of the original's files that change nothing here, with the reason (shown by --help)."""

ORIGINAL_KEYS = frozenset("""
    enable_modelarts data_url train_url checkpoint_url data_path output_path load_path device_target
    enable_profiling dataset_path ckpt_path checkpoint_path ckpt_file resume device_id file_name file_format
    width height modelarts_dataset_unzip_name need_modelarts_dataset_unzip result_path label_file batch_size
    epoch_size num_classes work_nums ds_type ds_sink_mode loss_scale smooth_factor weight_decay momentum
    amp_level decay epsilon keep_checkpoint_max save_checkpoint_epochs lr_init lr_end lr_max warmup_epochs
    start_epoch
""".split())
"""Keys present in all three of the original's configuration files (besides platform and UNUSED_KEYS)."""


def resolve_platform(platform, device_target, where):
    """The device target from the original's `platform` and this port's `device_target` (either may be None)."""
    if platform is not None and device_target is not None and platform != device_target:
        raise UserError(f"{where} sets platform '{platform}' but device_target '{device_target}': both name "
                        "the backend (the original read platform in train.py and eval.py, device_target on "
                        "ModelArts). Make them agree or keep only device_target.")
    return device_target if device_target is not None else platform


def normalize_file_values(values, defaults, path):
    """The values of config file `path` in this port's keys: `platform` merged into `device_target`, unused
    original keys dropped, keys beyond ORIGINAL_KEYS that the file lacks taken from `defaults`."""
    values = dict(values)
    target = resolve_platform(values.pop(ALIAS[0], None), values.pop(ALIAS[1], None), f"config file '{path}'")
    if target is not None:
        values[ALIAS[1]] = target
    for key in UNUSED_KEYS:
        values.pop(key, None)
    for key, default in defaults.items():
        if key not in values and key not in ORIGINAL_KEYS:
            values[key] = default
    return values


MIN_IMAGE_SIZE = 75
"""Inception-v4's smallest input side: every "valid" stride-2 layer still has an output (src.inceptionv4 checks it)."""

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


PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_PATH = os.path.join(PROJECT_ROOT, "default_config.yaml")
DEFAULT_CONFIG_PATH = SCHEMA_PATH

_TRUE = {"true", "yes", "on", "1"}
_TYPE_WORDS = {bool: "True or False", int: "a whole number", float: "a number", list: "a list such as [1, 2] or 1,2",
               str: "text"}
_FALSE = {"false", "no", "off", "0"}


class Config:
    """Read-only view of the configuration values as attributes (`cfg.batch_size`)."""

    def __init__(self, values, given=()):
        self.__dict__.update(values)
        self.__dict__["_given"] = frozenset(given)

    def __setattr__(self, key, value):
        raise AttributeError(f"Config is read-only: use replace({key}=...) for a changed copy")

    def replace(self, **values):
        """A copy with `values` changed (each counts as given only if it was)."""
        return Config({**self.to_dict(), **values}, self._given)

    def given(self, key):
        """True when `key` was set on the command line (an explicit choice, not the YAML file's value)."""
        return key in self._given

    def to_dict(self):
        return {key: value for key, value in self.__dict__.items() if key != "_given"}

    def __repr__(self):
        return "\n".join(f"{key}: {value!r}" for key, value in sorted(self.to_dict().items()))


class Schema:
    """Keys, types, help and choices, taken from the reference config file."""

    def __init__(self, defaults, helps, choices):
        self.defaults = defaults
        self.helps = helps
        self.choices = choices

    @classmethod
    def load(cls, path=SCHEMA_PATH):
        defaults, helps, choices = read_yaml(path)
        return cls(defaults, helps, choices)

    def unknown_key_message(self, key, where):
        close = difflib.get_close_matches(key, list(self.defaults) + [ALIAS[0]], n=1)
        hint = f" Did you mean '{close[0]}'?" if close else " Run with --help to list the keys."
        return f"unknown config key '{key}' {where}.{hint}"

    def check(self, key, value, where):
        """Return `value` converted to the key's type; raise UserError if it does not fit."""
        value = _coerce(key, value, self.defaults[key], where)
        allowed = self.choices.get(key)
        if allowed and value not in allowed:
            raise UserError(f"config key '{key}' {where} is {value!r}; allowed values: "
                            f"{', '.join(map(str, allowed))}.")
        check_range(key, value, where)
        return value


def read_yaml(path):
    """Read a config file: (values, help, choices); the last two may be absent."""
    check_input_file(path, "config file", "pass --config_path with an existing YAML file, e.g. one of the "
                     f"default_config*.yaml files in {PROJECT_ROOT}.")
    try:
        with open(path, encoding="utf-8") as stream:
            docs = [doc for doc in yaml.safe_load_all(stream)]
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split())
        raise UserError(f"config file '{path}' is not valid YAML: {detail}") from None
    except UnicodeDecodeError:
        raise UserError(f"config file '{path}' is not a UTF-8 text file.") from None
    if not docs or not isinstance(docs[0], dict) or len(docs) > 3 or \
            not all(isinstance(doc, dict) for doc in docs[1:]):
        raise UserError(f"config file '{path}' must hold up to three YAML documents (separated by '---'): "
                        "a mapping of values, then optionally help texts and allowed choices.")
    docs += [{}] * (3 - len(docs))
    return docs[0], docs[1], docs[2]


def _coerce(key, value, default, where):
    """Convert a YAML value or command-line string to the type of `default`."""
    expected = type(default)
    from_text = isinstance(value, str) and expected is not str
    try:
        if expected is bool:
            if isinstance(value, bool):
                return value
            if from_text and value.lower() in _TRUE | _FALSE:
                return value.lower() in _TRUE
        elif expected is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if from_text:
                return int(value)
        elif expected is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            if from_text:
                return float(value)
        elif expected is list:
            parsed = yaml.safe_load(value) if from_text else value
            if from_text and isinstance(parsed, str) and "," in parsed:
                parsed = [yaml.safe_load(item) for item in parsed.split(",")]
            if isinstance(parsed, list):
                return parsed
        elif expected is str:
            if isinstance(value, str):
                return value
    except ValueError:
        pass
    raise UserError(f"config key '{key}' {where} must be of type {expected.__name__} "
                    f"({_TYPE_WORDS[expected]}), got {value!r}.")


def _parser(schema, description):
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    parser.add_argument("--config_path", default=DEFAULT_CONFIG_PATH, help="YAML config file")
    for key, default in schema.defaults.items():
        parser.add_argument(f"--{key}", dest=key, default=argparse.SUPPRESS, metavar=type(default).__name__.upper(),
                            help=f"{schema.helps.get(key, '')} (default from the YAML file)")
    parser.add_argument(f"--{ALIAS[0]}", default=argparse.SUPPRESS, help=f"the original's name of --{ALIAS[1]}")
    for key, reason in UNUSED_KEYS.items():
        parser.add_argument(f"--{key}", default=argparse.SUPPRESS, help=f"the original's key, not used: {reason}")
    return parser


def get_config(argv=None, description="Inception-v4"):
    """Load `--config_path`, apply `--key value` overrides from `argv` and return a Config."""
    argv = sys.argv[1:] if argv is None else list(argv)
    schema = Schema.load()
    parser = _parser(schema, description)
    args, rest = parser.parse_known_args(argv)
    for item in rest:
        if item.startswith("--"):
            raise UserError(schema.unknown_key_message(item[2:].split("=")[0], "on the command line"))
        raise UserError(f"unexpected command-line argument '{item}': every setting is given as --key value.")
    overrides = vars(args)
    path = overrides.pop("config_path")
    target = resolve_platform(overrides.pop(ALIAS[0], None), overrides.pop(ALIAS[1], None), "the command line")
    if target is not None:
        overrides[ALIAS[1]] = target
    for key in UNUSED_KEYS:
        overrides.pop(key, None)

    values, _, _ = read_yaml(path)
    values = normalize_file_values(values, schema.defaults, path)
    where_file = f"in '{path}'"
    for key in values:
        if key not in schema.defaults:
            raise UserError(schema.unknown_key_message(key, where_file))
    missing = [key for key in schema.defaults if key not in values]
    if missing:
        raise UserError(f"config file '{path}' lacks the keys {', '.join(missing)}: copy them from "
                        f"{os.path.basename(SCHEMA_PATH)}.")
    final = {key: schema.check(key, value, where_file) for key, value in values.items()}
    for key, value in overrides.items():
        final[key] = schema.check(key, value, "on the command line")
    final["config_path"] = path
    return Config(final, given=overrides)
