"""The original model zoo's Inception-v4, as facts to test against: the parameters its checkpoints hold and its
three configuration files. Both are written from the original's sources (src/inceptionv4.py, default_config*.yaml);
this project's network and config files are checked against them, not derived from them."""

STEM = [("conv2d_1a_3x3", 32, 3, 3, 3), ("conv2d_2a_3x3", 32, 32, 3, 3), ("conv2d_2b_3x3", 64, 32, 3, 3),
        ("mixed_3a_branch_1", 96, 64, 3, 3),
        ("mixed_4a_branch_0.0", 64, 160, 1, 1), ("mixed_4a_branch_0.1", 96, 64, 3, 3),
        ("mixed_4a_branch_1.0", 64, 160, 1, 1), ("mixed_4a_branch_1.1", 64, 64, 1, 7),
        ("mixed_4a_branch_1.2", 64, 64, 7, 1), ("mixed_4a_branch_1.3", 96, 64, 3, 3),
        ("mixed_5a_branch_0", 192, 192, 3, 3)]
INCEPTION_A = [("branch_0", 96, 384, 1, 1), ("branch_1.0", 64, 384, 1, 1), ("branch_1.1", 96, 64, 3, 3),
               ("branch_2.0", 64, 384, 1, 1), ("branch_2.1", 96, 64, 3, 3), ("branch_2.2", 96, 96, 3, 3),
               ("branch_3.1", 96, 384, 1, 1)]
REDUCTION_A = [("branch_0", 384, 384, 3, 3), ("branch_1.0", 192, 384, 1, 1), ("branch_1.1", 224, 192, 3, 3),
               ("branch_1.2", 256, 224, 3, 3)]
INCEPTION_B = [("branch_0", 384, 1024, 1, 1), ("branch_1.0", 192, 1024, 1, 1), ("branch_1.1", 224, 192, 1, 7),
               ("branch_1.2", 256, 224, 7, 1), ("branch_2.0", 192, 1024, 1, 1), ("branch_2.1", 192, 192, 7, 1),
               ("branch_2.2", 224, 192, 1, 7), ("branch_2.3", 224, 224, 7, 1), ("branch_2.4", 256, 224, 1, 7),
               ("branch_3.1", 128, 1024, 1, 1)]
REDUCTION_B = [("branch_0.0", 192, 1024, 1, 1), ("branch_0.1", 192, 192, 3, 3), ("branch_1.0", 256, 1024, 1, 1),
               ("branch_1.1", 256, 256, 1, 7), ("branch_1.2", 320, 256, 7, 1), ("branch_1.3", 320, 320, 3, 3)]
INCEPTION_C = [("branch_0", 256, 1536, 1, 1), ("branch_1", 384, 1536, 1, 1), ("branch_1_1", 256, 384, 1, 3),
               ("branch_1_2", 256, 384, 3, 1), ("branch_2.0", 384, 1536, 1, 1), ("branch_2.1", 448, 384, 3, 1),
               ("branch_2.2", 512, 448, 1, 3), ("branch_2_1", 256, 512, 1, 3), ("branch_2_2", 256, 512, 3, 1),
               ("branch_3.1", 256, 1536, 1, 1)]
FEATURES = [STEM] + [INCEPTION_A] * 4 + [REDUCTION_A] + [INCEPTION_B] * 7 + [REDUCTION_B] + [INCEPTION_C] * 3
"""The blocks of `features`, in order: each a list of (conv name, out channels, in channels, kernel h, kernel w)."""


def _batchnorm(prefix, channels):
    return [(f"{prefix}.{name}", (channels,)) for name in ("moving_mean", "moving_variance", "gamma", "beta")]


def checkpoint_parameters(classes=1000):
    """(name, shape) of every parameter of the original's `Inceptionv4(classes)`, in registration order."""
    params = []
    for index, block in enumerate(FEATURES):
        for name, out, cin, kh, kw in block:
            prefix = f"features.{index}.{name}.conv"
            params += [(f"{prefix}.conv.weight", (out, cin, kh, kw))] + _batchnorm(f"{prefix}.batchnorm", out)
    params += [("softmax.dense.weight", (classes, 1536)), ("softmax.dense.bias", (classes,))]
    return params + _batchnorm("softmax.batchnorm", classes) + _batchnorm("bn0", 1536)


CPU_CONFIG = {
    "enable_modelarts": False, "data_url": "", "train_url": "", "checkpoint_url": "", "data_path": "/cache/data",
    "output_path": "/cache/train", "load_path": "/cache/checkpoint_path", "device_target": "CPU",
    "enable_profiling": False, "dataset_path": "/cache/data", "ckpt_path": "/cache/data/",
    "checkpoint_path": "./inceptionv4/inceptionv4-train-250_1251.ckpt",
    "ckpt_file": "/cache/data/ImageNet_Original/inceptionv4/inceptionv4-train-250_1251.ckpt", "resume": "",
    "is_distributed": False, "device_id": 0, "platform": "CPU", "file_name": "inceptionv4", "file_format": "MINDIR",
    "width": 299, "height": 299, "modelarts_dataset_unzip_name": "ImageNet_Original",
    "need_modelarts_dataset_unzip": True, "ckpt_save_dir": "./ckpt/", "result_path": "", "label_file": "",
    "batch_size": 128, "epoch_size": 250, "num_classes": 10, "work_nums": 8, "ds_type": "imagenet",
    "ds_sink_mode": False, "loss_scale": 1024, "smooth_factor": 0.1, "weight_decay": 0.00004, "momentum": 0.9,
    "amp_level": "O0", "decay": 0.9, "epsilon": 1.0, "keep_checkpoint_max": 10, "save_checkpoint_epochs": 10,
    "lr_init": 0.00004, "lr_end": 0.000004, "lr_max": 0.4, "warmup_epochs": 1, "start_epoch": 1,
}
"""default_config_cpu.yaml's keys and values (its help texts left out)."""
_ACCELERATOR = {"num_classes": 1000, "ds_sink_mode": True, "is_save_on_master": False}
CONFIGS = {
    "": {**CPU_CONFIG, **_ACCELERATOR, "device_target": "Ascend", "platform": "Ascend", "amp_level": "O3"},
    "_gpu": {**CPU_CONFIG, **_ACCELERATOR, "device_target": "GPU", "platform": "GPU", "num_parallel_workers": 1,
             "group_size": 1},
    "_cpu": CPU_CONFIG,
}
"""default_config{suffix}.yaml of the original, by suffix: the Ascend and GPU files differ from the CPU file in
these keys only."""
