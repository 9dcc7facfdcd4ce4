"""eval.py, export.py, eval_onnx.py and their launchers, on a 10-class model trained for a few steps on
the demo digits at 75x75."""
import ast
import itertools
import os
import re
import runpy
import subprocess
import sys

import mindspore as ms
import numpy as np
import onnx
import pytest
from mindspore import nn

from conftest import example_pattern, readme_example
from src.inputs.files import CIFAR_RECORD_BYTES, model_classes
from src.dataset import create_dataset
from src.deploy.inference import model_file
from src.deploy.metrics import TopKAccuracy, topk_correct
from src.deploy.runners import MindirClassifier, OnnxClassifier, model_file_metadata
from src.inceptionv4 import network_from_config
from src.model_utils.config import PROJECT_ROOT, get_config
from src.training.parts import CrossEntropySmooth

CPU_CONFIG = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")
BATCH = 16
"""Does not divide the 360 held-out demo images: the last eval batch holds 8."""
MODEL_ARGS = ["--config_path", CPU_CONFIG, "--num_classes", "10", "--height", "75", "--width", "75",
              "--batch_size", str(BATCH)]
TRAIN_STEPS = 3


def _python(script, *args):
    return [sys.executable, os.path.join(PROJECT_ROOT, script), *args]


def _start(cmd, cwd=None):
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process):
    out, err = process.communicate(timeout=900)
    return process.returncode, out, err


def _run(cmd, cwd=None):
    return _finish(_start(cmd, cwd))


def _image_count(folder):
    return sum(len(files) for _, _, files in os.walk(folder))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, demo_data):
    """A checkpoint after a few RMSProp steps, one eval batch and the network's eval-mode output on it."""
    folder = tmp_path_factory.mktemp("eval_export")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)
    try:
        cfg = get_config(MODEL_ARGS + ["--ds_type", "imagenet"])
        net = network_from_config(cfg, is_train=True)
        optimizer = nn.RMSProp(net.trainable_params(), learning_rate=0.001, decay=0.9, momentum=0.9, epsilon=1.0)
        step = nn.TrainOneStepCell(nn.WithLossCell(net, CrossEntropySmooth(10, 0.1)), optimizer)
        step.set_train(True)
        train = create_dataset(cfg, os.path.join(demo_data, "imagenet", "train"), do_train=True)
        for images, labels in itertools.islice(train.create_tuple_iterator(num_epochs=1), TRAIN_STEPS):
            assert np.isfinite(step(images, labels).asnumpy())
        ckpt = str(folder / "trained.ckpt")
        ms.save_checkpoint(net, ckpt)
        net.set_train(False)
        val = create_dataset(cfg, os.path.join(demo_data, "imagenet", "val"), do_train=False)
        images, _ = next(val.create_tuple_iterator(num_epochs=1, output_numpy=True))
        reference = net(ms.Tensor(images)).asnumpy()
    finally:
        ms.set_context(mode=ms.GRAPH_MODE)
    assert images.shape == (BATCH, 3, 75, 75) and np.isfinite(reference).all()
    return {"folder": folder, "ckpt": ckpt, "images": images, "reference": reference}


@pytest.fixture(scope="module")
def exported(trained):
    """{kind: path} of the trained checkpoint exported by export.py (run in parallel) to MINDIR and ONNX of
    batch BATCH, and to a batch-dynamic ONNX file ("dynamic")."""
    kinds = {"MINDIR": ("MINDIR", "model", []), "ONNX": ("ONNX", "model", []),
             "dynamic": ("ONNX", "dynamic", ["--dynamic_batch", "True"])}
    jobs = {kind: _start(_python("export.py", *MODEL_ARGS, "--export_batch_size", str(BATCH), "--device_target",
                                 "CPU", "--file_format", fmt, "--ckpt_file", trained["ckpt"], *extra,
                                 "--file_name", str(trained["folder"] / name)))
            for kind, (fmt, name, extra) in kinds.items()}
    paths = {}
    for kind, job in jobs.items():
        code, out, err = _finish(job)
        assert code == 0, err
        fmt, name, extra = kinds[kind]
        paths[kind] = str(trained["folder"] / f"{name}.{fmt.lower()}")
        batch = "any: input Nx3x75x75 float32, output Nx10" if extra else f"{BATCH}: input {BATCH}x3x75x75"
        assert f"export: wrote {paths[kind]} ({fmt}, batch size {batch}" in out
    return paths


def test_mindir_reloaded_with_graphcell_matches_the_network(trained, exported):
    graph = nn.GraphCell(ms.load(exported["MINDIR"]))
    output = graph(ms.Tensor(trained["images"])).asnumpy()
    assert output.shape == (BATCH, 10)
    assert np.abs(output - trained["reference"]).max() <= 1e-4


def test_mindir_classifier_reads_the_recorded_metadata_and_scores_any_number_of_images(trained, exported):
    model = MindirClassifier(exported["MINDIR"])
    assert (model.batch_size, model.height, model.width, model.num_classes) == (BATCH, 75, 75, 10)
    assert model.metadata == OnnxClassifier(exported["ONNX"], "CPU").metadata  # user_info = metadata_props
    assert set(model.metadata) >= {"preprocessing", "num_classes"}
    # 5 images: one batch completed with zero images; 19: a full batch and a partial one.
    images = np.concatenate([trained["images"], trained["images"][:3]])
    for count in (5, 19):
        output = model.predict(images[:count])
        assert output.shape == (count, 10)
        assert np.abs(output - np.concatenate([trained["reference"]] * 2)[:count]).max() <= 1e-4


def test_every_model_file_gives_its_record(trained, exported):
    """model_file_metadata (make_label_file --model): ONNX metadata_props = MINDIR user_info = what the ONNX
    runner reads; a checkpoint saved without a record gives none."""
    recorded = model_file_metadata(exported["ONNX"])
    assert recorded == model_file_metadata(exported["MINDIR"]) == OnnxClassifier(exported["ONNX"], "CPU").metadata
    assert recorded["num_classes"] == 10 and "preprocessing" in recorded
    assert model_file_metadata(trained["ckpt"]) == {} and model_classes({}) == (None, None)


def test_dynamic_batch_onnx_gives_the_checkpoint_log_probabilities_at_any_batch(trained, exported):
    model = OnnxClassifier(exported["dynamic"], "CPU")
    assert (model.batch_size, model.height, model.width, model.num_classes) == (None, 75, 75, 10)
    graph = onnx.load(exported["dynamic"]).graph
    assert [value.name for value in graph.input] == ["images"] and [value.name for value in graph.output] == [
        "log_probs"]
    assert [dim.dim_param for dim in (graph.input[0], graph.output[0]) for dim in dim.type.tensor_type.shape.dim[:1]
            ] == ["batch", "batch"]
    for count in (1, 3, 16):
        output = model.session.run(None, {"images": trained["images"][:count]})[0]
        assert output.shape == (count, 10)
        assert np.abs(output - trained["reference"][:count]).max() <= 1e-4


def test_onnx_in_onnxruntime_matches_the_network(trained, exported):
    model = OnnxClassifier(exported["ONNX"], "CPU")
    assert (model.batch_size, model.height, model.width, model.num_classes) == (BATCH, 75, 75, 10)
    output = model.predict(trained["images"])
    assert np.abs(output - trained["reference"]).max() <= 1e-4
    # A partial batch is padded to the exported batch size; the padding changes no real image's output.
    partial = model.predict(trained["images"][:5])
    assert partial.shape == (5, 10)
    np.testing.assert_allclose(partial, output[:5], atol=1e-5)
    several = model.predict(np.concatenate([trained["images"], trained["images"][:3]]))
    np.testing.assert_allclose(several, np.concatenate([output, output[:3]]), atol=1e-5)


def test_onnx_classifier_takes_any_batch_when_the_model_does(tmp_path):
    # A real ONNX file with a symbolic batch dimension: class scores = mean of each channel.
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
         onnx.helper.make_node("Flatten", ["pooled"], ["scores"])], "mean_colour",
        [onnx.helper.make_tensor_value_info("images", onnx.TensorProto.FLOAT, ["batch", 3, 8, 9])],
        [onnx.helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, ["batch", 3])])
    path = tmp_path / "any_batch.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)]), path)
    model = OnnxClassifier(str(path), "CPU")
    assert (model.batch_size, model.height, model.width, model.num_classes) == (None, 8, 9, 3)
    images = np.random.default_rng(0).random((5, 3, 8, 9)).astype(np.float32)
    np.testing.assert_allclose(model.predict(images), images.mean(axis=(2, 3)), rtol=1e-6)


def _eval_result(out):
    count = int(re.search(r"^eval: (\d+) images", out, re.M).group(1))
    metrics = ast.literal_eval(re.search(r"^metric: (\{.*\})$", out, re.M).group(1))
    return count, metrics


def _onnx_result(out):
    count = int(re.search(r"^eval_onnx: (\d+) images", out, re.M).group(1))
    values = dict(re.findall(r"^(top-1 accuracy|top-5 accuracy|accuracy): ([0-9.]+)$", out, re.M))
    return count, {name: float(value) for name, value in values.items()}


@pytest.mark.slow
def test_eval_eval_onnx_and_the_exported_files_agree_on_every_imagenet_image(trained, exported, demo_data):
    val = os.path.join(demo_data, "imagenet", "val")
    eval_job = _start(_python("eval.py", *MODEL_ARGS, "--dataset_path", val, "--checkpoint_path", trained["ckpt"]))
    # The MINDIR (batch 16) with nothing but the data: size, batch and preprocessing come from the file.
    mindir_job = _start(_python("eval.py", "--config_path", CPU_CONFIG, "--num_classes", "10", "--dataset_path", val,
                                "--checkpoint_path", exported["MINDIR"]))
    # eval_onnx.py gets no size or batch settings: it takes them from the model (16 x 3 x 75 x 75).
    onnx_job = _start(_python("eval_onnx.py", "--config_path", CPU_CONFIG, "--dataset_path", val,
                              "--file_name", exported["ONNX"]))
    dynamic_job = _start(_python("eval_onnx.py", "--config_path", CPU_CONFIG, "--dataset_path", val,
                                 "--batch_size", "7", "--file_name", exported["dynamic"]))
    code, out, err = _finish(eval_job)
    assert code == 0, err
    count, metrics = _eval_result(out)
    code, mindir_out, err = _finish(mindir_job)
    assert code == 0, err
    mindir_count, mindir_metrics = _eval_result(mindir_out)
    code, onnx_out, err = _finish(onnx_job)
    assert code == 0, err
    onnx_count, accuracy = _onnx_result(onnx_out)
    code, dynamic_out, err = _finish(dynamic_job)
    assert code == 0, err
    assert _onnx_result(dynamic_out) == (onnx_count, accuracy) and "using batch_size" not in dynamic_out
    assert count == onnx_count == mindir_count == _image_count(val) == 360
    assert set(metrics) == {"Loss", "Top1-Acc", "Top5-Acc"} and 0 < metrics["Loss"] < 10
    assert round(metrics["Top1-Acc"] * count) == round(accuracy["top-1 accuracy"] * count)
    assert round(metrics["Top5-Acc"] * count) == round(accuracy["top-5 accuracy"] * count)
    assert "using batch_size 16" in onnx_out and "using height 75" in onnx_out
    assert {key: round(value * count) for key, value in mindir_metrics.items() if key != "Loss"} == \
        {key: round(value * count) for key, value in metrics.items() if key != "Loss"}
    assert mindir_metrics["Loss"] == pytest.approx(metrics["Loss"], rel=1e-4)
    for key in ("batch_size 16", "height 75", "width 75"):
        assert f"eval: using {key} of '{exported['MINDIR']}'" in mindir_out


@pytest.mark.slow
def test_launchers_evaluate_cifar10_and_write_their_logs(trained, exported, demo_data, tmp_path):
    # The first 45 held-out records (45 = 2 x 16 + 13) as a CIFAR-10 folder of its own.
    cifar = tmp_path / "cifar10"
    (cifar / "cifar-10-verify-bin").mkdir(parents=True)
    with open(os.path.join(demo_data, "cifar10", "cifar-10-verify-bin", "test_batch.bin"), "rb") as stream:
        (cifar / "cifar-10-verify-bin" / "test_batch.bin").write_bytes(stream.read(45 * CIFAR_RECORD_BYTES))
    # Run from another folder with relative paths, also in --key value overrides (the launchers cd into eval/).
    config = ["--config_path", os.path.relpath(CPU_CONFIG, tmp_path)]
    eval_job = _start(["bash", os.path.join(PROJECT_ROOT, "scripts", "run_eval_cpu.sh"), "cifar10",
                       os.path.relpath(trained["ckpt"], tmp_path), *config, *MODEL_ARGS[2:], "--ds_type", "cifar10"],
                      cwd=tmp_path)
    onnx_job = _start(["bash", os.path.join(PROJECT_ROOT, "scripts", "run_onnx_eval.sh"), "cifar10", "cifar10", "CPU",
                       "ONNX", os.path.relpath(exported["ONNX"], tmp_path), *config], cwd=tmp_path)
    for job in (eval_job, onnx_job):
        code, _, err = _finish(job)
        assert code == 0, err
    log = (tmp_path / "eval" / "eval.log").read_text()
    for line, example in zip(log.strip().splitlines()[-2:], readme_example("lines of the log are")):
        assert re.match(example_pattern(example), line), (line, example)
    count, metrics = _eval_result(log)
    onnx_count, accuracy = _onnx_result((tmp_path / "eval_onnx" / "eval_onnx.log").read_text())
    assert count == onnx_count == 45
    assert set(accuracy) == {"accuracy"}
    assert round(metrics["Top1-Acc"] * count) == round(accuracy["accuracy"] * count)


def _run_in_process(script, args, monkeypatch, capsys):
    """Run an entry point in this process (no MindSpore start-up cost); return (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", [script, *args])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(os.path.join(PROJECT_ROOT, script), run_name="__main__")
    return stopped.value.code, capsys.readouterr().err


def _bad_checkpoint(kind, trained, tmp_path):
    """(checkpoint path, extra args, words the error must contain) for one kind of bad checkpoint."""
    if kind == "missing":
        path = str(tmp_path / "missing.ckpt")
        return path, [], [path, "does not exist"]
    if kind == "not_a_checkpoint":
        path = tmp_path / "notes.ckpt"
        path.write_text("not a checkpoint\n")
        return str(path), [], [str(path), "not a readable MindSpore checkpoint"]
    if kind == "other_num_classes":
        return trained["ckpt"], ["--num_classes", "5"], ["softmax.dense.weight", "(10, 1536)", "(5, 1536)",
                                                         "num_classes"]
    params = ms.load_checkpoint(trained["ckpt"])
    kept = [{"name": name, "data": value} for name, value in params.items()
            if name not in ("softmax.dense.bias", "softmax.batchnorm.moving_mean")]
    path = str(tmp_path / "partial.ckpt")
    ms.save_checkpoint(kept, path)
    return path, [], [path, "lacks 2", "softmax.batchnorm.moving_mean", "softmax.dense.bias"]


@pytest.mark.parametrize("kind", ["missing", "not_a_checkpoint", "other_num_classes", "missing_params"])
@pytest.mark.parametrize("script", ["eval.py", "export.py"])
def test_bad_checkpoints_are_clear_errors(script, kind, trained, demo_data, tmp_path, monkeypatch, capsys):
    path, extra, words = _bad_checkpoint(kind, trained, tmp_path)
    out_dir = tmp_path / "out"
    if script == "eval.py":
        args = ["--checkpoint_path", path, "--dataset_path", os.path.join(demo_data, "imagenet", "val")]
    else:
        args = ["--ckpt_file", path, "--file_format", "ONNX", "--file_name", str(out_dir / "model")]
    code, err = _run_in_process(script, MODEL_ARGS + extra + args, monkeypatch, capsys)
    assert code == 2
    assert err.startswith("error: ") and "Traceback" not in err
    for word in words:
        assert word in err
    assert not out_dir.exists() or not os.listdir(out_dir)


@pytest.mark.parametrize("script,option,name,words", [
    ("eval.py", "--checkpoint_path", "model.onnx", ["is an exported ONNX model, not a MindSpore checkpoint",
                                                    "pass ONNX files with --file_name"]),
    ("export.py", "--ckpt_file", "model.mindir", ["is an exported MINDIR model, not a MindSpore checkpoint",
                                                  "export.py need the .ckpt file it was exported from"]),
    ("eval_onnx.py", "--file_name", "model.mindir", ["is an exported MINDIR model, not an ONNX model",
                                                     "evaluate it with eval.py --checkpoint_path"]),
    ("eval_onnx.py", "--file_name", "model.ckpt", ["is a MindSpore checkpoint, not an ONNX model",
                                                   "evaluate it with eval.py --checkpoint_path"]),
    ("eval.py", "--checkpoint_path", "notes.mindir", ["is not a MINDIR model", "export.py --file_format MINDIR"]),
    ("eval.py", "--checkpoint_path", "absent.mindir", ["does not exist", "export.py --file_format MINDIR"]),
])
def test_a_model_file_of_the_wrong_kind_is_one_line(script, option, name, words, demo_data, tmp_path, monkeypatch,
                                                     capsys):
    path = tmp_path / name
    if not name.startswith("absent"):
        path.write_text("not a model\n")
    args = {"eval.py": ["--dataset_path", os.path.join(demo_data, "imagenet", "val")],
            "export.py": ["--file_format", "ONNX", "--file_name", str(tmp_path / "out")],
            "eval_onnx.py": ["--dataset_path", os.path.join(demo_data, "imagenet", "val")]}[script]
    code, err = _run_in_process(script, MODEL_ARGS + args + [option, str(path)], monkeypatch, capsys)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert f"'{path}'" in err and ".onnx'" not in err.replace(f"'{path}'", "")  # no path the user never typed
    for word in words:
        assert word in err
    assert sorted(os.listdir(tmp_path)) == ([] if name.startswith("absent") else [name])


def test_dynamic_batch_is_refused_for_mindir_before_any_work(tmp_path, monkeypatch, capsys):
    code, err = _run_in_process("export.py", MODEL_ARGS + ["--ckpt_file", "any.ckpt", "--file_format", "MINDIR",
                                                           "--dynamic_batch", "True", "--file_name",
                                                           str(tmp_path / "model")], monkeypatch, capsys)
    assert code == 2
    assert err == ("error: dynamic_batch True writes a batch-dynamic ONNX file, but file_format is MINDIR: pass "
                   "--file_format ONNX, or --dynamic_batch False for a MINDIR file of batch export_batch_size.\n")
    assert os.listdir(tmp_path) == []


def test_air_export_off_ascend_is_refused_without_a_trace_or_a_file(trained, tmp_path):
    code, out, err = _run(_python("export.py", *MODEL_ARGS, "--device_target", "CPU", "--file_format", "AIR",
                                  "--ckpt_file", trained["ckpt"], "--file_name", str(tmp_path / "model")))
    assert code == 2
    assert err.startswith("error: file_format AIR needs the Ascend backend")
    assert "MINDIR or ONNX" in err
    assert "Traceback" not in err and "C++ Call Stack" not in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("device,words", [
    ("GPU", ["CUDAExecutionProvider", "available providers", "CPUExecutionProvider", "--device_target CPU"]),
    ("Ascend", ["CPU or GPU, not on Ascend"]),
])
def test_eval_onnx_names_an_unavailable_provider(device, words, exported, demo_data, monkeypatch, capsys):
    code, err = _run_in_process("eval_onnx.py", ["--config_path", CPU_CONFIG, "--device_target", device,
                                                 "--dataset_path", os.path.join(demo_data, "imagenet", "val"),
                                                 "--file_name", exported["ONNX"]], monkeypatch, capsys)
    assert code == 2 and err.startswith("error: ")
    for word in words:
        assert word in err


def test_eval_onnx_rejects_a_missing_or_invalid_model(trained, demo_data, tmp_path, monkeypatch, capsys):
    val = os.path.join(demo_data, "imagenet", "val")
    missing = str(tmp_path / "nothing")
    code, err = _run_in_process("eval_onnx.py", ["--config_path", CPU_CONFIG, "--dataset_path", val,
                                                 "--file_name", missing], monkeypatch, capsys)
    assert code == 2 and f"ONNX model '{missing}.onnx' does not exist" in err
    fake = tmp_path / "fake.onnx"
    fake.write_bytes(open(trained["ckpt"], "rb").read(4096))
    code, err = _run_in_process("eval_onnx.py", ["--config_path", CPU_CONFIG, "--dataset_path", val,
                                                 "--file_name", str(fake)], monkeypatch, capsys)
    assert code == 2 and f"'{fake}' is not a loadable ONNX model" in err


def test_eval_onnx_names_labels_beyond_the_model_classes(exported, tmp_path, monkeypatch, capsys):
    # Three real CIFAR-10 records, one labelled 11: the 10-class model cannot score it.
    records = np.zeros((3, CIFAR_RECORD_BYTES), np.uint8)
    records[:, 0] = [0, 11, 2]
    (tmp_path / "cifar-10-verify-bin").mkdir()
    records.tofile(tmp_path / "cifar-10-verify-bin" / "test_batch.bin")
    code, err = _run_in_process("eval_onnx.py", ["--config_path", CPU_CONFIG, "--ds_type", "cifar10",
                                                 "--dataset_path", str(tmp_path), "--file_name", exported["ONNX"]],
                                monkeypatch, capsys)
    assert code == 2
    assert "label 11 is outside the model's 10 classes" in err and "num_classes" in err


USAGES = {"run_eval_cpu.sh": "DATA_DIR CHECKPOINT_PATH", "run_eval_gpu.sh": "DATA_DIR CHECKPOINT_PATH",
          "run_eval_ascend.sh": "DEVICE_ID DATA_DIR CHECKPOINT_PATH",
          "run_onnx_eval.sh": "DATA_PATH DATASET_TYPE DEVICE_TYPE FILE_TYPE ONNX_PATH"}
"""The original's argument order."""


@pytest.mark.parametrize("script,args,message", [
    ("run_eval_cpu.sh", [], "expected 2 arguments"),
    ("run_eval_cpu.sh", ["DATA"], "expected 2 arguments"),
    ("run_eval_gpu.sh", ["DATA", "CKPT", "extra"], "expected 2 arguments"),
    ("run_eval_ascend.sh", ["DATA", "CKPT"], "expected 3 arguments"),
    ("run_eval_ascend.sh", ["zero", "DATA", "CKPT"], "DEVICE_ID must be a device number"),
    ("run_onnx_eval.sh", ["DATA", "imagenet", "CPU", "ONNX"], "expected 5 arguments"),
    ("run_onnx_eval.sh", ["DATA", "imagenet", "TPU", "ONNX", "MODEL"], "DEVICE_TYPE must be CPU or GPU"),
    ("run_onnx_eval.sh", ["DATA", "imagenet", "CPU", "MINDIR", "MODEL"], "FILE_TYPE must be ONNX"),
])
def test_launchers_print_usage_on_wrong_arguments(script, args, message, tmp_path):
    code, out, err = _run(["bash", os.path.join(PROJECT_ROOT, "scripts", script), *args], cwd=tmp_path)
    assert code == 2
    assert message in err
    assert f"Usage: bash scripts/{script} {USAGES[script]} [--key value ...]" in err
    assert os.listdir(tmp_path) == []


def test_launcher_passes_on_the_error_and_exit_code(demo_data, tmp_path):
    missing = str(tmp_path / "missing.ckpt")
    code, out, _ = _run(["bash", os.path.join(PROJECT_ROOT, "scripts", "run_eval_cpu.sh"),
                         os.path.join(demo_data, "imagenet", "val"), missing], cwd=tmp_path)
    assert code == 2
    log = (tmp_path / "eval" / "eval.log").read_text()
    assert f"error: checkpoint '{missing}' does not exist" in log
    assert "Traceback" not in log


def test_model_file_adds_the_extension_once():
    assert model_file("out/inceptionv4", "ONNX") == "out/inceptionv4.onnx"
    assert model_file("out/inceptionv4.onnx", "ONNX") == "out/inceptionv4.onnx"
    assert model_file("model.MINDIR", "MINDIR") == "model.MINDIR"
    assert model_file("model.onnx", "MINDIR") == "model.onnx.mindir"
    assert model_file("model", "AIR") == "model.air"


def test_topk_counts_hits_with_ties_broken_by_lower_index():
    logits = np.array([[0.1, 0.5, 0.4],    # label 2: second place
                       [0.3, 0.3, 0.4],    # label 1: tie with class 0, which ranks first
                       [0.9, 0.05, 0.05]], np.float32)  # label 0: first
    assert topk_correct(logits, [2, 1, 0], ks=(1, 2, 3, 5)) == {1: 1, 2: 2, 3: 3, 5: 3}


def test_topk_accuracy_accumulates_batches_and_checks_labels():
    accuracy = TopKAccuracy((1, 5))
    assert accuracy.accuracy() == {1: 0.0, 5: 0.0}
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((10, 8))
    labels = np.argsort(-logits, axis=1)[:, 3]   # every label fourth: top-5 only
    labels[:4] = logits[:4].argmax(axis=1)       # four top-1 hits
    accuracy.update(logits[:7], labels[:7])
    accuracy.update(logits[7:], labels[7:])
    assert accuracy.count == 10 and accuracy.correct == {1: 4, 5: 10}
    assert accuracy.accuracy() == {1: 0.4, 5: 1.0}
    with pytest.raises(ValueError, match="label 8 is outside the model's 8 classes"):
        topk_correct(logits[:2], [0, 8])
    with pytest.raises(ValueError, match=r"expected logits \(batch, classes\)"):
        topk_correct(logits[:2], [0, 1, 2])

