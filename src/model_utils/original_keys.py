"""The original model zoo's configuration keys, so that its three YAML files work here unchanged.

- `platform` is the original's second name for `device_target`: alone it sets it; beside it, the two must agree.
- Keys the original's files set but its code never used are accepted and dropped (UNUSED_KEYS).
- Keys that all three original files have (ORIGINAL_KEYS) must be present in a config file; any other key of
  this port (added since, or missing from one of the original's files) takes default_config.yaml's value.
"""
from src.runtime.errors import UserError

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
