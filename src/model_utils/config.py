"""Configuration: a YAML file of three documents (values, help text, allowed choices) plus
command-line overrides, checked against the reference schema in `default_config.yaml`.

    from src.model_utils.config import config      # parses sys.argv once, exits 2 on bad input
    cfg = get_config(["--batch_size", "32"])        # raises UserError on bad input
"""
import argparse
import difflib
import os
import sys

import yaml

from src.errors import USAGE_EXIT_CODE, UserError

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_PATH = os.path.join(PROJECT_ROOT, "default_config.yaml")
DEFAULT_CONFIG_PATH = SCHEMA_PATH
ALIASES = {"platform": "device_target"}
"""Old key names still accepted: the original used both `platform` and `device_target` for one thing."""

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class Config:
    """Read-only view of the configuration values as attributes (`cfg.batch_size`)."""

    def __init__(self, values):
        self.__dict__.update(values)

    def to_dict(self):
        return dict(self.__dict__)

    def __repr__(self):
        return "\n".join(f"{key}: {value!r}" for key, value in sorted(self.__dict__.items()))


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
        close = difflib.get_close_matches(key, list(self.defaults) + list(ALIASES), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else " Run with --help to list the keys."
        return f"unknown config key '{key}' {where}.{hint}"

    def check(self, key, value, where):
        """Return `value` converted to the key's type; raise UserError if it does not fit."""
        value = _coerce(key, value, self.defaults[key], where)
        allowed = self.choices.get(key)
        if allowed and value not in allowed:
            raise UserError(f"config key '{key}' {where} is {value!r}; allowed values: "
                            f"{', '.join(map(str, allowed))}.")
        return value


def read_yaml(path):
    """Read a config file: (values, help, choices); the last two may be absent."""
    if not os.path.isfile(path):
        raise UserError(f"config file '{path}' does not exist: pass --config_path with an existing YAML "
                        f"file, e.g. one of the default_config*.yaml files in {PROJECT_ROOT}.")
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
            if isinstance(parsed, list):
                return parsed
        elif expected is str:
            if isinstance(value, str):
                return value
    except ValueError:
        pass
    raise UserError(f"config key '{key}' {where} must be of type {expected.__name__} "
                    f"(like {default!r}), got {value!r}.")


def _parser(schema, description):
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    parser.add_argument("--config_path", default=DEFAULT_CONFIG_PATH, help="YAML config file")
    for key, default in schema.defaults.items():
        parser.add_argument(f"--{key}", dest=key, default=argparse.SUPPRESS, metavar=type(default).__name__.upper(),
                            help=f"{schema.helps.get(key, '')} (default from the YAML file)")
    for alias, key in ALIASES.items():
        parser.add_argument(f"--{alias}", dest=key, default=argparse.SUPPRESS, help=f"same as --{key}")
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

    values, _, _ = read_yaml(path)
    where_file = f"in '{path}'"
    for alias, key in ALIASES.items():
        if alias in values:
            if key in values:
                raise UserError(f"config file '{path}' sets both '{alias}' and '{key}': keep only '{key}'.")
            values[key] = values.pop(alias)
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
    return Config(final)


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
