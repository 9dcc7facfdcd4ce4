"""ModelArts support: device/rank/job ids, moxing_wrapper with a stand-in moxing (OBS is unreachable), dataset unzip."""
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import types
import zipfile

import pytest

from src.model_utils import moxing_adapter
from src.model_utils.config import PROJECT_ROOT, get_config
from src.model_utils.moxing_adapter import (NOT_ON_MODELARTS, extract_dataset_zip, extracted_marker,
                                            is_first_device_of_server, moxing_wrapper)
from src.runtime import context
from src.runtime.stops import UserError

STUB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "modelarts_stub")
CPU_CONFIG = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")
ENV_KEYS = ("DEVICE_ID", "RANK_SIZE", "RANK_ID", "JOB_ID")


@pytest.fixture(autouse=True)
def job_env(monkeypatch, tmp_path):
    """A clean id environment, marker files under tmp_path, and no importable moxing unless a test adds it."""
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MOXING_STUB_LOG", str(tmp_path / "events.jsonl"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    os.makedirs(tempfile.tempdir)
    monkeypatch.setitem(sys.modules, "moxing", None)  # `import moxing` raises ImportError


@pytest.fixture
def stub_moxing(monkeypatch):
    spec = importlib.util.spec_from_file_location("moxing", os.path.join(STUB_DIR, "moxing.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "moxing", module)
    return module


def _events(tmp_path):
    path = tmp_path / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _obs(tmp_path):
    """Local folders standing in for OBS: a dataset with a zip, a checkpoint folder, an empty train_url."""
    obs = tmp_path / "obs"
    (obs / "ckpt").mkdir(parents=True)
    (obs / "ckpt" / "model.ckpt").write_bytes(b"weights")
    _make_zip(obs / "data" / "ImageNet_Original.zip", {f"ImageNet_Original/train/c{i}/img{i}.JPEG": bytes([i]) * 64
                                                       for i in range(5)})
    return obs


def _make_zip(path, members, compression=zipfile.ZIP_DEFLATED):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _args(tmp_path, obs, **overrides):
    values = dict(enable_modelarts="True", data_url=obs / "data", checkpoint_url=obs / "ckpt",
                  train_url=obs / "train", data_path=tmp_path / "cache" / "data",
                  load_path=tmp_path / "cache" / "ckpt", output_path=tmp_path / "cache" / "train",
                  need_modelarts_dataset_unzip="True", modelarts_sync_timeout=30)
    values.update(overrides)
    args = ["--config_path", CPU_CONFIG]
    for key, value in values.items():
        args += [f"--{key}", str(value)]
    return args


# ---- adapters ----------------------------------------------------------------------------------------------

def test_local_defaults():
    assert (context.get_device_id(), context.get_device_num(), context.get_rank_id(),
            context.get_job_id()) == (0, 1, 0, "Local Job")
    assert moxing_adapter.get_job_id() == "default"


def test_ids_come_from_the_environment(monkeypatch):
    for key, value in zip(ENV_KEYS, ("3", "8", "5", "job-42")):
        monkeypatch.setenv(key, value)
    for adapter in (context, moxing_adapter):
        assert (adapter.get_device_id(), adapter.get_device_num(), adapter.get_rank_id(),
                adapter.get_job_id()) == (3, 8, 5, "job-42")


@pytest.mark.parametrize("env, getter, message", [
    ({"DEVICE_ID": "gpu0"}, "get_device_id", r"DEVICE_ID='gpu0' must be an integer >= 0"),
    ({"RANK_SIZE": "0"}, "get_device_num", r"RANK_SIZE='0' must be an integer >= 1"),
    ({"RANK_ID": "-1"}, "get_rank_id", r"RANK_ID='-1' must be an integer >= 0"),
    ({"RANK_ID": "8", "RANK_SIZE": "8"}, "get_rank_id", r"RANK_ID=8 must be below RANK_SIZE=8"),
])
def test_bad_environment_values_name_the_variable(monkeypatch, env, getter, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UserError, match=message):
        getattr(context, getter)()


@pytest.mark.parametrize("device_id, device_num, first", [
    (0, 1, True), (0, 16, True), (3, 16, False), (7, 8, False), (4, 4, True), (5, 4, False)])
def test_first_device_of_each_server(monkeypatch, device_id, device_num, first):
    monkeypatch.setenv("DEVICE_ID", str(device_id))
    monkeypatch.setenv("RANK_SIZE", str(device_num))
    assert is_first_device_of_server() is first


# ---- moxing_wrapper in one process -------------------------------------------------------------------------

def _recording_job(calls):
    @moxing_wrapper(pre_process=lambda cfg: calls.append("pre"), post_process=lambda cfg: calls.append("post"))
    def run(cfg, extra, flag=False):
        calls.append(("run", extra, flag, sorted(os.listdir(cfg.data_path)) if cfg.enable_modelarts else None))
        return "result"
    return run


def test_off_modelarts_the_wrapper_only_calls_the_function(tmp_path):
    calls = []
    cfg = get_config(_args(tmp_path, _obs(tmp_path), enable_modelarts="False"))
    assert _recording_job(calls)(cfg, 1, flag=True) == "result"  # `import moxing` would fail here
    assert calls == [("run", 1, True, None)]
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("module, message", [
    (None, "^" + re.escape(NOT_ON_MODELARTS) + "$"),
    (types.ModuleType("moxing"), r"has no file.copy_parallel: it is not ModelArts' moxing\. enable_modelarts"),
])
def test_enable_modelarts_without_modelarts_moxing_is_a_user_error(tmp_path, monkeypatch, module, message):
    monkeypatch.setitem(sys.modules, "moxing", module)
    calls = []
    with pytest.raises(UserError, match=message):
        _recording_job(calls)(get_config(_args(tmp_path, _obs(tmp_path))), 1)
    assert calls == []
    assert "only on Huawei Cloud ModelArts images" in NOT_ON_MODELARTS and "\n" not in NOT_ON_MODELARTS


def test_off_modelarts_message_is_one_line_and_exit_2(tmp_path):
    """A real process without moxing: report_user_errors prints one line and exits 2, no traceback."""
    code = ("from src.runtime.stops import report_user_errors; from src.model_utils.config import get_config; "
            "from src.model_utils.moxing_adapter import moxing_wrapper; "
            "report_user_errors(lambda: moxing_wrapper()(print)(get_config()))()")
    done = subprocess.run([sys.executable, "-c", code] + _args(tmp_path, _obs(tmp_path)), cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": PROJECT_ROOT},
                          check=False, timeout=60)
    assert done.returncode == 2
    assert done.stderr == f"error: {NOT_ON_MODELARTS}\n"
    assert done.stdout == ""


def test_single_device_copies_in_order(tmp_path, stub_moxing):
    obs = _obs(tmp_path)
    cfg = get_config(_args(tmp_path, obs, need_modelarts_dataset_unzip="False"))
    calls = []

    @moxing_wrapper(pre_process=lambda c: stub_moxing.log_event("pre"),
                    post_process=lambda c: stub_moxing.log_event("post"))
    def run(cfg):
        stub_moxing.log_event("run", listing=sorted(os.listdir(cfg.data_path) + os.listdir(cfg.load_path)))
        (tmp_path / "cache" / "train" / "out.txt").write_text("trained")
        calls.append(cfg.device_id)

    run(cfg)
    events = _events(tmp_path)
    assert [(e["event"], e.get("src"), e.get("dst")) for e in events] == [
        ("copy", str(obs / "data"), cfg.data_path), ("copy", str(obs / "ckpt"), cfg.load_path),
        ("pre", None, None), ("run", None, None), ("post", None, None),
        ("copy", cfg.output_path, str(obs / "train"))]
    assert events[3]["listing"] == ["ImageNet_Original.zip", "model.ckpt"]
    assert (obs / "train" / "out.txt").read_text() == "trained"
    assert calls == [0]


def test_empty_urls_are_skipped(tmp_path, stub_moxing):
    cfg = get_config(_args(tmp_path, _obs(tmp_path), data_url="", checkpoint_url="", train_url="",
                           need_modelarts_dataset_unzip="False"))
    assert moxing_wrapper()(lambda c: "ran")(cfg) == "ran"
    assert _events(tmp_path) == []
    assert os.path.isdir(cfg.output_path)


def test_waiting_device_times_out_with_a_clear_message(tmp_path, monkeypatch, stub_moxing):
    monkeypatch.setenv("DEVICE_ID", "1")
    monkeypatch.setenv("RANK_SIZE", "2")  # device 0 never runs
    calls = []
    cfg = get_config(_args(tmp_path, _obs(tmp_path), modelarts_sync_timeout=0.3))
    with pytest.raises(UserError, match=r"device 1 waited 0.3 s for device 0 of this server to copy .*obs/data to "
                                        r".*, but its marker '.*' never appeared: see that device's log, or raise "
                                        r"modelarts_sync_timeout"):
        _recording_job(calls)(cfg, 1)
    assert calls == [] and _events(tmp_path) == []


def test_bad_timeout_is_a_user_error(tmp_path, stub_moxing):
    # the config layer's range table refuses it before any copy starts
    with pytest.raises(UserError, match=r"'modelarts_sync_timeout' on the command line is 0.0; it must be greater "
                                        r"than 0 \(seconds\)"):
        moxing_wrapper()(print)(get_config(_args(tmp_path, _obs(tmp_path), modelarts_sync_timeout=0)))


# ---- several devices of one server, as real processes ------------------------------------------------------

def _run_devices(tmp_path, args, run_seconds, delay):
    """Start one device_job.py process per entry of run_seconds (DEVICE_ID = index); return their results."""
    base = {**os.environ, "PYTHONPATH": os.pathsep.join([STUB_DIR, PROJECT_ROOT]), "RANK_SIZE": str(len(run_seconds)),
            "JOB_ID": "job-test", "TMPDIR": str(tmp_path / "tmp"), "MOXING_STUB_LOG": str(tmp_path / "events.jsonl"),
            "MOXING_STUB_DELAY": str(delay)}
    procs = [subprocess.Popen([sys.executable, os.path.join(STUB_DIR, "device_job.py")] + args, cwd=tmp_path,
                              env={**base, "DEVICE_ID": str(i), "RANK_ID": str(i), "RUN_SECONDS": str(seconds)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, seconds in enumerate(run_seconds)]
    return [(proc.wait(timeout=120), proc.stdout.read(), proc.stderr.read()) for proc in procs]


def test_first_device_copies_and_unzips_the_others_wait(tmp_path):
    obs = _obs(tmp_path)
    cfg = get_config(_args(tmp_path, obs))
    results = _run_devices(tmp_path, _args(tmp_path, obs), run_seconds=[0, 0, 1.0], delay=0.5)
    for code, out, err in results:
        assert code == 0, out + err
    events = _events(tmp_path)
    copies = [e for e in events if e["event"] == "copy"]
    assert [(e["device"], e["src"], e["dst"]) for e in copies] == [
        (0, str(obs / "data"), cfg.data_path), (0, str(obs / "ckpt"), cfg.load_path),
        (0, cfg.output_path, str(obs / "train"))]
    by_device = {d: [e for e in events if e["device"] == d] for d in range(3)}
    assert [e["event"] for e in by_device[0]] == ["copy", "copy", "pre", "run", "run_end", "post", "copy"]
    downloaded = copies[1]["time"]
    extracted = sorted(os.listdir(os.path.join(cfg.data_path, "ImageNet_Original", "train")))
    for device in (1, 2):
        steps = by_device[device]
        assert [e["event"] for e in steps] == ["pre", "run", "run_end", "post"]
        assert steps[0]["time"] >= downloaded  # waited for both downloads (each takes 0.5 s)
        assert steps[1]["device_id"] == device
        assert steps[1]["listing"][cfg.data_path] == ["ImageNet_Original", "ImageNet_Original.zip",
                                                     "ImageNet_Original.zip.extracted"]
        assert steps[1]["listing"][cfg.load_path] == ["model.ckpt"]
        assert f"device 0 finished: extract {cfg.data_path}/ImageNet_Original.zip" in results[device][1]
    assert extracted == [f"c{i}" for i in range(5)]
    assert "unzip: 100% (5/5 entries)" in results[0][1]
    assert copies[2]["start"] >= by_device[2][2]["time"]  # upload waited for the slowest device
    assert sorted(os.listdir(obs / "train")) == ["device0.txt", "device1.txt", "device2.txt"]


def test_a_failed_copy_stops_the_waiting_devices_at_once(tmp_path):
    obs = _obs(tmp_path)
    args = _args(tmp_path, obs, data_url=obs / "missing")
    results = _run_devices(tmp_path, args, run_seconds=[0, 0], delay=0)
    assert [code for code, _, _ in results] == [2, 2]
    first_error = f"moxing could not copy {obs / 'missing'} to {tmp_path / 'cache' / 'data'} (FileNotFoundError"
    assert results[0][2].startswith("error: " + first_error) and results[0][2].count("\n") == 1
    assert results[1][2].startswith(f"error: device 0 of this server failed to copy {obs / 'missing'}")
    assert first_error in results[1][2] and "check the config key 'data_url'" in results[1][2]
    assert [e["event"] for e in _events(tmp_path)] == []


# ---- dataset unzip -----------------------------------------------------------------------------------------

def _unzip_config(tmp_path, **overrides):
    return get_config(_args(tmp_path, tmp_path, data_path=tmp_path / "data", **overrides))


def test_unzip_extracts_once_and_is_idempotent(tmp_path, capsys):
    cfg = _unzip_config(tmp_path, modelarts_dataset_unzip_name="digits")
    members = {f"digits/train/{i % 3}/{i}.JPEG": os.urandom(2000) for i in range(30)}
    zip_path = _make_zip(tmp_path / "data" / "digits.zip", members)
    extract_dataset_zip(cfg)
    for name, data in members.items():
        assert (tmp_path / "data" / name).read_bytes() == data
    assert os.path.exists(extracted_marker(str(zip_path)))
    out = capsys.readouterr().out
    assert "unzip: extracting 30 entries" in out and "unzip: 100% (30/30 entries)" in out
    assert 3 <= out.count("%") <= 12  # progress every 10 %, not every file

    (tmp_path / "data" / "digits" / "train" / "0" / "0.JPEG").unlink()
    extract_dataset_zip(cfg)  # already extracted: nothing is written again
    assert not (tmp_path / "data" / "digits" / "train" / "0" / "0.JPEG").exists()
    assert "already done" in capsys.readouterr().out


def test_unzip_is_skipped_when_not_asked_for(tmp_path):
    extract_dataset_zip(_unzip_config(tmp_path, need_modelarts_dataset_unzip="False"))
    assert not (tmp_path / "data").exists()


def _corrupt_crc(path):
    data = bytearray(path.read_bytes())
    start = data.index(b"A" * 100)
    data[start] = ord("B")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, detail", [
    (lambda path: path.write_bytes(b"this is not a zip file"), "File is not a zip file"),
    (_corrupt_crc, "Bad CRC-32"),
])
def test_corrupt_zip_is_a_user_error_naming_it(tmp_path, damage, detail):
    zip_path = _make_zip(tmp_path / "data" / "ImageNet_Original.zip", {"a/b.txt": b"A" * 1000},
                         compression=zipfile.ZIP_STORED)
    damage(zip_path)
    with pytest.raises(UserError, match=f"dataset zip '{zip_path}' is corrupt .*{detail}.*: create it again"):
        extract_dataset_zip(_unzip_config(tmp_path))
    assert not os.path.exists(extracted_marker(str(zip_path)))


def test_missing_zip_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"dataset zip '.*data/ImageNet_Original.zip' does not exist: upload "
                                        r"ImageNet_Original.zip to data_url"):
        extract_dataset_zip(_unzip_config(tmp_path))


def test_pretrained_checkpoint_comes_from_checkpoint_url(tmp_path, stub_moxing):
    """checkpoint_url is copied to load_path before the job runs, so `pretrained` (like `resume`) names a file
    under load_path; the real loader then reads it."""
    import mindspore as ms
    from src.training.parts import load_pretrained
    from src.inceptionv4 import Inceptionv4
    obs = _obs(tmp_path)
    source = Inceptionv4(classes=1000)
    ms.save_checkpoint(source, str(obs / "ckpt" / "model.ckpt"))
    cfg = get_config(_args(tmp_path, obs, need_modelarts_dataset_unzip="False", num_classes=10,
                           pretrained=tmp_path / "cache" / "ckpt" / "model.ckpt"))
    lines = []

    @moxing_wrapper()
    def run(cfg):
        net = Inceptionv4(classes=10)
        load_pretrained(cfg, net, printer=lambda *a, **k: lines.append(a[0]))
        return net

    net = run(cfg)
    assert lines[0].startswith(f"pretrained: kept 749 parameters of '{cfg.pretrained}'")
    conv = "features.0.conv2d_1a_3x3.conv.conv.weight"
    assert (net.parameters_dict()[conv].asnumpy() == source.parameters_dict()[conv].asnumpy()).all()
