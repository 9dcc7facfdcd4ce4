"""The evaluation/inference preprocessing: normalisation, resize interpolation and centre-crop fraction, and
which resize implementation and rounding of the resize length reproduce the weights' source exactly.

One definition for eval.py, the evaluation callback, eval_onnx.py, predict.py and the ONNX quantizer's
calibration (all through src.dataset), recorded with the weights (checkpoint and exported-model metadata)
so that each set of weights is fed what it was trained with:

    cfg = resolve_image_size(cfg, checkpoint_metadata(params), source)  # recorded size, CLI overrides win
    prep = resolve_preprocessing(cfg, checkpoint_metadata(params), source)  # recorded settings, likewise
    print(prep.describe(cfg.height, cfg.width))
"""
import dataclasses
import math

import mindspore.dataset.vision as V

from src.checkpoint import IMAGE_SIZE_KEY, PREPROCESSING_KEY
from src.runtime.stops import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
"""The original's CIFAR-10 normalisation (its src/dataset.py): the default for ds_type cifar10."""
INTERPOLATIONS = {"bilinear": V.Inter.LINEAR, "bicubic": V.Inter.CUBIC}
KEYS = ("image_mean", "image_std", "interpolation", "crop_pct")
"""Config keys (and metadata fields) of the preprocessing."""
RESIZE_BACKENDS = ("numpy", "pil")
"""resize_backend: MindSpore's Resize on the decoded NumPy array (the original, mindcv), or on the PIL image,
which calls PIL's antialiased resize (timm's torchvision transforms)."""
RESIZE_ROUNDINGS = ("round", "floor")
"""resize_rounding: the resize length size / crop_pct rounded (this project's earlier records) or floored
(timm and mindcv compute floor(size / crop_pct))."""
EXACT_KEYS = ("resize_backend", "resize_rounding")
"""Metadata fields that records written before them lack (read as numpy and round, except a source's own record,
see resolve_preprocessing)."""


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Per-channel mean and std on 0-1 pixels (RGB), resize interpolation, and crop_pct: the shorter side is
    resized to size / crop_pct (resize_rounding), then the centre (height, width) is cropped; resize_backend
    says whose resize implementation runs."""
    image_mean: tuple = IMAGENET_MEAN
    image_std: tuple = IMAGENET_STD
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    resize_backend: str = "numpy"
    resize_rounding: str = "round"

    @classmethod
    def from_values(cls, values, where):
        """Checked Preprocessing from a mapping holding KEYS; UserError naming `where` and the key."""
        mean, std = values["image_mean"], values["image_std"]
        for key, triple in (("image_mean", mean), ("image_std", std)):
            if not isinstance(triple, (list, tuple)) or len(triple) != 3 or \
                    not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                            for v in triple):
                raise UserError(f"'{key}' {where} must be three numbers (R, G, B on 0-1 pixels), got {triple!r}.")
        if not all(0.0 <= v <= 1.0 for v in mean):
            raise UserError(f"'image_mean' {where} must be three numbers in [0, 1] (on 0-1 pixels), got {list(mean)!r}.")
        if not all(0.0 < v <= 1.0 for v in std):
            raise UserError(f"'image_std' {where} must be three numbers in (0, 1] (on 0-1 pixels), got {list(std)!r}.")
        if values["interpolation"] not in INTERPOLATIONS:
            raise UserError(f"'interpolation' {where} is {values['interpolation']!r}; allowed values: "
                            f"{', '.join(INTERPOLATIONS)}.")
        crop = values["crop_pct"]
        if isinstance(crop, bool) or not isinstance(crop, (int, float)) or not 0.0 < crop <= 1.0:
            raise UserError(f"'crop_pct' {where} must lie in (0, 1], got {crop!r}.")
        exact = {key: values.get(key, getattr(cls, key)) for key in EXACT_KEYS}
        for key, allowed in (("resize_backend", RESIZE_BACKENDS), ("resize_rounding", RESIZE_ROUNDINGS)):
            if exact[key] not in allowed:
                raise UserError(f"'{key}' {where} is {exact[key]!r}; allowed values: {', '.join(allowed)}.")
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in std), values["interpolation"],
                   float(crop), **exact)

    def to_dict(self):
        return {"image_mean": list(self.image_mean), "image_std": list(self.image_std),
                "interpolation": self.interpolation, "crop_pct": self.crop_pct,
                "resize_backend": self.resize_backend, "resize_rounding": self.resize_rounding}

    def resize_size(self, height, width):
        """Length the shorter image side is resized to before the centre crop."""
        length = max(height, width) / self.crop_pct
        return int(math.floor(length) if self.resize_rounding == "floor" else round(length))

    def describe(self, height, width, crop=True):
        """One line saying what the images go through (crop=False: CIFAR-10 records, resized without a crop)."""
        numbers = lambda values: " ".join(f"{v:g}" for v in values)  # noqa: E731
        how = self.interpolation + (" (PIL)" if self.resize_backend == "pil" else "")
        shape = (f"{how} resize to {self.resize_size(height, width)}, centre crop "
                 f"{height}x{width}" if crop else f"{how} resize to {height}x{width}")
        return f"preprocessing: {shape}, mean {numbers(self.image_mean)}, std {numbers(self.image_std)}"

    def normalize_op(self):
        """(x / 255 - mean) / std in one op, on HWC uint8 or float images."""
        return V.Normalize([m * 255 for m in self.image_mean], [s * 255 for s in self.image_std])

    def eval_ops(self, height, width):
        """Image file bytes -> normalised CHW float32 image of (height, width): decode, resize the shorter side,
        centre crop (on the PIL image with resize_backend pil: PIL's own resize, as torchvision does it)."""
        pil = self.resize_backend == "pil"
        return [V.Decode(to_pil=pil), V.Resize(self.resize_size(height, width), INTERPOLATIONS[self.interpolation]),
                V.CenterCrop((height, width)), *([V.ToNumpy()] if pil else []), self.normalize_op(), V.HWC2CHW()]


SOURCES = {
    "original": Preprocessing(),
    "mindcv": Preprocessing(crop_pct=0.875, resize_rounding="floor"),
    "timm": Preprocessing((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bicubic", 0.875, "pil", "floor"),
}
"""What each source's weights were trained and evaluated with (read from each project's code and configs): the
original resizes NumPy arrays (Resize(299) + CenterCrop(299)); mindcv resizes NumPy arrays to
floor(size / crop_pct); timm resizes the PIL image (antialiased) to floor(size / crop_pct)."""


def config_preprocessing(cfg):
    """The preprocessing the config's keys describe; for ds_type cifar10, image_mean and image_std not given on
    the command line are CIFAR-10's (the original's CIFAR-10 pipeline normalises with them)."""
    values = {key: getattr(cfg, key) for key in KEYS}
    if getattr(cfg, "ds_type", "imagenet") == "cifar10":
        for key, cifar in (("image_mean", CIFAR10_MEAN), ("image_std", CIFAR10_STD)):
            if not cfg.given(key):
                values[key] = cifar
    return Preprocessing.from_values(values, "in the configuration")


def _completed(recorded, metadata):
    """A record written before EXACT_KEYS existed, completed: the converted source's own fields when the
    metadata names it (converted_from) or the record is timm's (its mean/std 0.5 and bicubic are timm's only),
    else numpy and round (as such records were read)."""
    if all(key in recorded for key in EXACT_KEYS):
        return recorded
    origin = metadata.get("converted_from")
    source = origin.get("source") if isinstance(origin, dict) else None
    timm = SOURCES["timm"]
    legacy = {key: recorded[key] for key in KEYS}
    if source not in SOURCES and not _differs(legacy, {key: timm.to_dict()[key] for key in KEYS}):
        source = "timm"
    exact = SOURCES[source].to_dict() if source in SOURCES else Preprocessing().to_dict()
    return {**{key: exact[key] for key in EXACT_KEYS}, **recorded}


def resolve_preprocessing(cfg, metadata, source="the weights", printer=print):
    """The preprocessing recorded in `metadata` (a checkpoint's or exported model's), with the config's values
    for keys set explicitly on the command line; without a record, the config's (the original's by default).
    An explicit value that differs from the record is announced in one line."""
    recorded = metadata.get(PREPROCESSING_KEY)
    if not isinstance(recorded, dict) or any(key not in recorded for key in KEYS):
        return config_preprocessing(cfg)
    values = Preprocessing.from_values(_completed(recorded, metadata), f"recorded in {source}").to_dict()
    _apply_given(cfg, values, KEYS, "preprocessing", source, printer)
    return Preprocessing.from_values(values, "on the command line")


def resolve_image_size(cfg, metadata, source="the weights", printer=print):
    """`cfg` with height and width set to the size recorded in `metadata` (IMAGE_SIZE_KEY), except those given
    on the command line (a given value that differs from the record is announced in one line, as in
    resolve_preprocessing); `cfg` itself without a record."""
    recorded = metadata.get(IMAGE_SIZE_KEY)
    if recorded is None:
        return cfg
    if not isinstance(recorded, (list, tuple)) or len(recorded) != 2 or \
            not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in recorded):
        raise UserError(f"'{IMAGE_SIZE_KEY}' recorded in {source} must be [height, width] in pixels, got "
                        f"{recorded!r}: pass --height and --width with the size the weights were trained at.")
    values = dict(zip(("height", "width"), recorded))
    _apply_given(cfg, values, values, "image size", source, printer)
    if (values["height"], values["width"]) != (cfg.height, cfg.width):
        printer(f"image size: {values['height']}x{values['width']}, recorded in {source} (the config says "
                f"{cfg.height}x{cfg.width}; --height/--width override it)", flush=True)
    return cfg.replace(**values)


def _apply_given(cfg, values, keys, what, source, printer):
    """Replace the recorded `values[key]` by the config's value for each key set on the command line, with one
    line for each that differs from the record."""
    for key in keys:
        wanted = getattr(cfg, key)
        if cfg.given(key) and _differs(wanted, values[key]):
            printer(f"{what}: --{key} {wanted} differs from {values[key]}, which {source} were trained with",
                    flush=True)
            values[key] = wanted


def _differs(a, b):
    if isinstance(a, dict):
        return a.keys() != b.keys() or any(_differs(a[key], b[key]) for key in a)
    if isinstance(a, (list, tuple)):
        return len(a) != len(b) or any(_differs(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a != b
