"""Input pipelines for ImageNet-style folders and CIFAR-10 binary files.

Every pipeline yields batches of (float32 N x 3 x height x width normalised images, int32 labels). Bad
input (missing folder, wrong layout, truncated CIFAR file) raises UserError before anything is compiled; a
bad image found while reading stops the pipeline with an error naming the file (see explain_pipeline_errors).
"""
import contextlib
import math
import os
import re

import mindspore.dataset as ds
import mindspore.dataset.vision as V
import numpy as np

from src.inputs.files import cifar_files, imagenet_split_folder, list_image_folder, read_cifar_file, read_image_file
from src.inputs.preprocessing import INTERPOLATIONS, config_preprocessing
from src.runtime.stops import UserError

CIFAR_PAD = 4


def worker_count(requested, group_size=1):
    """Parallel workers per pipeline: `requested`, capped to this process's share of the CPU cores.

    A process already pinned to a subset of cores (taskset) uses those; otherwise the machine's cores
    are split between the `group_size` ranks running on it.
    """
    total = os.cpu_count() or 1
    pinned = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    share = pinned if pinned < total else total // max(group_size, 1)
    return max(1, min(requested, share))


def _sampler(num_rows, do_train, shuffle, rank_id, group_size):
    """Reading order of one rank.

    Training shards are equal-sized (MindSpore's DistributedSampler repeats up to group_size - 1 samples
    so every rank runs the same number of steps); evaluation shards are exactly disjoint and together
    cover every sample once.
    """
    if group_size == 1:
        return ds.RandomSampler() if shuffle else ds.SequentialSampler()
    if do_train:
        return ds.DistributedSampler(group_size, rank_id, shuffle=shuffle)
    indices = list(range(rank_id, num_rows, group_size))
    return ds.SubsetRandomSampler(indices) if shuffle else ds.SubsetSampler(indices)


def _check_shard_size(path, num_rows, do_train, cfg, group_size):
    per_rank = math.ceil(num_rows / group_size)
    if do_train and per_rank < cfg.batch_size:
        raise UserError(f"dataset '{path}' has {num_rows} images: {per_rank} per device, fewer than one batch "
                        f"of batch_size {cfg.batch_size} (training drops incomplete batches). "
                        f"Set --batch_size {per_rank} or less, or use more data.")
    if num_rows < group_size:
        raise UserError(f"dataset '{path}' has {num_rows} images, fewer than the {group_size} devices.")


def _batch(data_set, do_train, cfg):
    """Batch (training drops the incomplete last batch). Labels are int32 from both sources."""
    return data_set.batch(cfg.batch_size, drop_remainder=do_train)


def create_dataset_imagenet(cfg, dataset_path, do_train, rank_id=0, group_size=1, shuffle=None, preprocessing=None,
                            class_names=None, class_ids=None):
    """Pipeline over an ImageNet-style folder (<path>/<class>/<image>; label: the class folder's position in
    the model's classes, found by WordNet id in `class_ids` or by name in `class_names`, or else in the sorted
    class folders), or over
    the train/ (do_train) or validation folder of an ImageNet root (src.inputs.files.imagenet_split_folder).

    Train (cfg.augment): random crop (scale 0.08-1, ratio 3/4-4/3) decoded and resized to (height, width),
    horizontal flip, colour jitter 0.4. Eval, and train without augment: decode, resize the shorter side to
    size / crop_pct, centre crop (`preprocessing`, by default the config's; see its eval_ops). Every file
    is checked as it is read (src.inputs.files: empty, not an image, truncated, damaged JPEG headers): a bad
    one stops the pipeline with an error naming it.
    """
    split = imagenet_split_folder(dataset_path, do_train)
    if split != dataset_path:
        print(f"dataset: ImageNet root '{dataset_path}': reading {split}", flush=True)
        dataset_path = split
    folder = list_image_folder(dataset_path, cfg.num_classes, class_names, class_ids)
    shuffle = do_train if shuffle is None else shuffle
    _check_shard_size(dataset_path, len(folder.files), do_train, cfg, group_size)
    workers = worker_count(cfg.work_nums, group_size)
    size = (cfg.height, cfg.width)
    data_set = ds.ImageFolderDataset(
        dataset_path, num_parallel_workers=workers, extensions=folder.extensions,
        class_indexing=folder.class_indexing,
        sampler=_sampler(len(folder.files), do_train, shuffle, rank_id, group_size), decrypt=read_image_file)
    prep = preprocessing or config_preprocessing(cfg)
    if do_train and cfg.augment:
        ops = [V.RandomCropDecodeResize(size, scale=(0.08, 1.0), ratio=(0.75, 1.333),
                                        interpolation=INTERPOLATIONS[prep.interpolation]),
               V.RandomHorizontalFlip(prob=0.5),
               V.RandomColorAdjust(brightness=0.4, contrast=0.4, saturation=0.4), prep.normalize_op(), V.HWC2CHW()]
    else:
        ops = prep.eval_ops(*size)
    data_set = data_set.map(ops, input_columns="image", num_parallel_workers=workers)
    return _batch(data_set, do_train, cfg)


def create_dataset_cifar10(cfg, dataset_path, do_train, rank_id=0, group_size=1, shuffle=None, preprocessing=None,
                           class_names=None, class_ids=None):  # pylint: disable=unused-argument
    """Pipeline over CIFAR-10 binary files (<path>/cifar-10-batches-bin/data_batch_*.bin for training,
    <path>/cifar-10-verify-bin/test_batch.bin for evaluation), reading every whole record of every file.
    Labels are the class indices of the records (`class_names` and `class_ids` are not needed).

    Train (cfg.augment): random crop 32 with padding 4, horizontal flip. Both: resize to (height, width) with
    the preprocessing's interpolation and normalise with its mean/std (crop_pct does not apply: no crop).
    """
    parts = [read_cifar_file(path, cfg.num_classes) for path in cifar_files(dataset_path, do_train)]
    images = np.concatenate([part[0] for part in parts])
    labels = np.concatenate([part[1] for part in parts])
    shuffle = do_train if shuffle is None else shuffle
    _check_shard_size(dataset_path, len(labels), do_train, cfg, group_size)
    workers = worker_count(cfg.work_nums, group_size)
    data_set = ds.NumpySlicesDataset({"image": images, "label": labels},
                                     sampler=_sampler(len(labels), do_train, shuffle, rank_id, group_size))
    augment = do_train and cfg.augment
    ops = [V.RandomCrop(images.shape[1:3], padding=CIFAR_PAD), V.RandomHorizontalFlip(prob=0.5)] if augment else []
    prep = preprocessing or config_preprocessing(cfg)
    ops += [V.Resize((cfg.height, cfg.width), INTERPOLATIONS[prep.interpolation]), prep.normalize_op(), V.HWC2CHW()]
    data_set = data_set.map(ops, input_columns="image", num_parallel_workers=workers)
    return _batch(data_set, do_train, cfg)


def create_dataset(cfg, dataset_path, do_train, rank_id=0, group_size=1, shuffle=None, preprocessing=None,
                   class_names=None, class_ids=None):
    """The pipeline for cfg.ds_type ('imagenet' or 'cifar10'); `preprocessing` (src.inputs.preprocessing) defaults to
    the config's keys."""
    create = {"imagenet": create_dataset_imagenet, "cifar10": create_dataset_cifar10}[cfg.ds_type]
    return create(cfg, dataset_path, do_train, rank_id, group_size, shuffle, preprocessing, class_names, class_ids)


_BAD_FILE_PATTERNS = (  # BadImageFile raised while reading; MindSpore's decoder failing on a file
    re.compile(r"bad image file '(?P<path>.*?)': (?P<why>[^\n]*)"),
    re.compile(r"The corresponding data file is: (?P<path>.+?)\. (?P<why>[^\n]*?)(?: Dump the abnormal|\n|$)"),
)


def bad_file_from_error(error_text):
    """(path, problem) of the bad image file named in a dataset-pipeline error message, or None."""
    for pattern in _BAD_FILE_PATTERNS:
        match = pattern.search(error_text)
        if match:
            return match.group("path"), match.group("why").rstrip(".")
    return None


@contextlib.contextmanager
def explain_pipeline_errors():
    """Turn a pipeline failure caused by a bad image file into a UserError naming the file and the checker.

    Wrap the loop that consumes a pipeline (model.train, model.eval); other errors pass through unchanged.
    """
    try:
        yield
    except RuntimeError as err:
        bad = bad_file_from_error(str(err))
        if bad is None:
            raise
        path, problem = bad
        folder = os.path.dirname(os.path.dirname(path)) or "."
        raise UserError(f"bad image file '{path}': {problem}. Stopped. List every bad file of the dataset with "
                        f"'python -m src.tools.check_dataset --ds_type imagenet {folder}', then replace or "
                        f"remove them.") from None
