"""Config loading, command-line overrides and every bad-input case."""
import os
import subprocess
import sys

import pytest
import yaml

from src.model_utils.config import PROJECT_ROOT, _coerce, get_config, read_yaml
from src.runtime.stops import UserError

CONFIGS = ["default_config.yaml", "default_config_gpu.yaml", "default_config_cpu.yaml"]


def _path(name):
    return os.path.join(PROJECT_ROOT, name)


def _write(tmp_path, text, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _copy_with(tmp_path, **changes):
    values, helps, choices = read_yaml(_path("default_config_cpu.yaml"))
    values.update(changes)
    return _write(tmp_path, yaml.safe_dump_all([values, helps, choices]), f"{'_'.join(changes)}.yaml")


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_has_the_same_keys_each_with_help(name, capsys):
    """The keys of each file are the reference's; help and choices live in the reference only (one home) and
    serve every file, --help included."""
    values, helps, choices = read_yaml(_path(name))
    reference, reference_helps, reference_choices = read_yaml(_path("default_config.yaml"))
    assert list(values) == list(reference)
    assert set(reference_helps) == set(values)
    assert all(key in values for key in reference_choices)
    assert (helps, choices) == (({}, {}) if name != "default_config.yaml" else (reference_helps, reference_choices))
    with pytest.raises(SystemExit):
        get_config(["--config_path", _path(name), "--help"])
    assert reference_helps["bn_momentum"] in " ".join(capsys.readouterr().out.split())
    cfg = get_config(["--config_path", _path(name)])
    assert cfg.device_target == {"default_config.yaml": "Ascend", "default_config_gpu.yaml": "GPU",
                                 "default_config_cpu.yaml": "CPU"}[name]


def test_original_values_are_kept():
    cfg = get_config([])
    expected = dict(batch_size=128, epoch_size=250, num_classes=1000, loss_scale=1024, smooth_factor=0.1,
                    weight_decay=4e-5, momentum=0.9, decay=0.9, epsilon=1.0, lr_init=4e-5, lr_end=4e-6,
                    lr_max=0.4, warmup_epochs=1, start_epoch=1, width=299, height=299, ds_type="imagenet",
                    amp_level="O3", enable_modelarts=False, is_save_on_master=False, file_name="inceptionv4")
    for key, value in expected.items():
        assert getattr(cfg, key) == value, key
    assert cfg.config_path == _path("default_config.yaml")


def test_overrides_take_the_yaml_type():
    cfg = get_config(["--batch_size", "32", "--enable_modelarts", "True", "--weight_decay", "4e-5",
                      "--lr_max=1", "--ds_sink_mode", "false", "--file_name", "123"])
    assert cfg.batch_size == 32 and isinstance(cfg.batch_size, int)
    assert cfg.enable_modelarts is True and cfg.ds_sink_mode is False
    assert cfg.weight_decay == 4e-5 and cfg.lr_max == 1.0 and isinstance(cfg.lr_max, float)
    assert cfg.file_name == "123"


def test_list_values_parse():
    assert _coerce("k", "[1, 2.5, 3]", [0], "x") == [1, 2.5, 3]
    assert _coerce("k", "1,2.5,3", [0], "x") == [1, 2.5, 3]  # the C++ app's --image_mean=R,G,B form
    assert get_config(["--image_mean", "0.5,0.4,0.3"]).image_mean == [0.5, 0.4, 0.3]
    assert _coerce("k", [4], [0], "x") == [4]
    with pytest.raises(UserError, match="must be of type list"):
        _coerce("k", "7", [0], "x")


def test_platform_is_an_alias_of_device_target():
    assert get_config(["--platform", "GPU"]).device_target == "GPU"


def test_config_path_selects_file():
    cfg = get_config(["--config_path", _path("default_config_cpu.yaml"), "--device_id", "3"])
    assert cfg.device_target == "CPU" and cfg.device_id == 3 and cfg.batch_size == 32


@pytest.mark.parametrize("argv,message", [
    (["--batch_sise", "3"], r"unknown config key 'batch_sise' on the command line\. Did you mean 'batch_size'\?"),
    (["--batch_size", "abc"], r"'batch_size' on the command line must be of type int \(a whole number\), got 'abc'"),
    (["--batch_size", "1.5"], r"must be of type int"),
    (["--lr_max", "fast"], r"'lr_max' on the command line must be of type float"),
    (["--enable_modelarts", "maybe"], r"'enable_modelarts' .* must be of type bool"),
    (["--amp_level", "O1"], r"'amp_level' on the command line is 'O1'; allowed values: O0, O2, O3"),
    (["--device_target", "TPU"], r"allowed values: Ascend, GPU, CPU"),
    (["stray"], r"unexpected command-line argument 'stray'"),
    (["--config_path", "/no/such.yaml"], r"config file '/no/such.yaml' does not exist"),
])
def test_bad_command_line(argv, message):
    with pytest.raises(UserError, match=message):
        get_config(argv)


def test_bad_yaml_files(tmp_path):
    cases = [
        (_copy_with(tmp_path, batch_size="big"), r"'batch_size' in '.*' must be of type int"),
        (_copy_with(tmp_path, ds_type="coco"), r"'ds_type' in '.*' is 'coco'; allowed values: imagenet, cifar10"),
        (_copy_with(tmp_path, lr_mx=0.1), r"unknown config key 'lr_mx' in '.*'\. Did you mean 'lr_max'\?"),
        (_copy_with(tmp_path, enable_modelarts=1), r"'enable_modelarts' .* must be of type bool"),
        (_write(tmp_path, "batch_size: [1,\n", "broken.yaml"), r"config file '.*broken.yaml' is not valid YAML"),
        (_write(tmp_path, "- 1\n- 2\n", "list.yaml"), r"must hold up to three YAML documents"),
        (_write(tmp_path, "batch_size: 4\n", "short.yaml"), r"lacks the keys enable_modelarts, data_url"),
    ]
    for path, message in cases:
        with pytest.raises(UserError, match=message):
            get_config(["--config_path", path])


def test_command_line_error_is_one_line_exit_2(tmp_path):
    script = ("from src.model_utils.config import get_config\nfrom src.runtime.stops import report_user_errors\n"
              "print(report_user_errors(get_config)().batch_size)\n")
    run = subprocess.run([sys.executable, "-c", script, "--batch_sise", "3"], cwd=PROJECT_ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip() == ("error: unknown config key 'batch_sise' on the command line. "
                                  "Did you mean 'batch_size'?")
    ok = subprocess.run([sys.executable, "-c", script, "--batch_size", "3"], cwd=PROJECT_ROOT,
                        capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip() == "3"
