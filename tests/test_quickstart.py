"""scripts/quickstart.sh, the README's first command (conftest.py's `quickstart` fixture runs it once): it
trains on the real demo digits until the eval-mode network has learned, and its evaluations, exports and
training record agree with each other."""
import csv
import os
import re

import pytest

pytestmark = pytest.mark.slow


def _accuracies(text, pattern):
    return [float(value) for value in re.findall(pattern, text, re.M)]


def test_quickstart_learns_and_its_evaluations_agree(quickstart):
    """Held-out top-1 in eval mode far above chance (10 %) after the quickstart's 4 epochs (measured: 96.7-97.2 %),
    the same from eval.py on the last checkpoint and from its ONNX export in onnxruntime."""
    run = quickstart["run"]
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    by_epoch = _accuracies(run.stdout, r"^eval: epoch \d+ Top1-Acc ([0-9.]+)")
    assert len(by_epoch) == 4, run.stdout[-3000:]
    assert by_epoch[-1] > 0.9 and by_epoch[-1] > by_epoch[0], by_epoch
    # eval.py's and eval_onnx.py's lines (float32, then INT8), repeated in the summary at the end
    eval_py = _accuracies(run.stdout, r"^metric: \{.*'Top1-Acc': ([0-9.]+)")
    onnx, int8, onnx_again = _accuracies(run.stdout, r"^accuracy: ([0-9.]+)$")
    one_image = 1 / 360 + 1e-6  # folded BatchNorm and onnxruntime may turn a near tie
    assert eval_py == [pytest.approx(by_epoch[-1], abs=one_image)] * 2
    assert onnx == onnx_again == pytest.approx(eval_py[0], abs=one_image)
    assert re.search(rf"^  float32  {onnx:.5f}, [0-9.]+ img/s, [0-9.]+ MB$", run.stdout, re.M), run.stdout[-1500:]
    assert re.search(rf"^  INT8     {int8:.5f}, [0-9.]+ img/s, [0-9.]+ MB$", run.stdout, re.M), run.stdout[-1500:]


def test_quickstart_leaves_its_record_and_files_where_it_says(quickstart):
    out, stdout = quickstart["out"], quickstart["run"].stdout
    record = os.path.join(out, "ckpt", "ckpt_0")
    assert f"quickstart: training curves in {record}/curves.png (per-epoch numbers in metrics.csv beside it)" in stdout
    assert re.search(rf"^quickstart: done in \d+ s; outputs in {re.escape(out)}$", stdout, re.M)
    with open(os.path.join(record, "curves.png"), "rb") as picture:
        assert picture.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(record, "metrics.csv"), newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["epoch"] for row in rows] == ["1", "2", "3", "4"]
    by_epoch = _accuracies(stdout, r"^eval: epoch \d+ Top1-Acc ([0-9.]+)")
    assert [float(row["top1"]) for row in rows] == pytest.approx(by_epoch, abs=1e-4)
    for name in ("inceptionv4.onnx", "inceptionv4_int8.onnx", "train.log", "eval.log", "eval_onnx.log"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    assert quickstart["checkpoint"].endswith("inceptionv4-train-4_89.ckpt")
