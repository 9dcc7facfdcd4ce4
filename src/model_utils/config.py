"""Configuration: a YAML file of three documents (values, help text, allowed choices) plus
command-line overrides, checked against the reference schema in `default_config.yaml` and the value ranges of
`config_ranges.py`.

    from src.model_utils.config import config      # parses sys.argv once, exits 2 on bad input
    cfg = get_config(["--batch_size", "32"])        # raises UserError on bad input
"""
import argparse
import difflib
import os
import sys

import yaml

from src.errors import USAGE_EXIT_CODE, UserError
from src.fileio import check_input_file
from src.model_utils.config_ranges import check_range
from src.model_utils.original_keys import ALIAS, UNUSED_KEYS, normalize_file_values, resolve_platform

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


def __getattr__(name):
    """`from src.model_utils.config import config` parses sys.argv on first use; bad input exits 2."""
    if name != "config":
        raise AttributeError(name)
    try:
        cfg = get_config()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(USAGE_EXIT_CODE)
    globals()["config"] = cfg
    return cfg
