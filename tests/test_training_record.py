"""The training record callback (metrics.csv and curves.png) driven with the arguments MindSpore passes it.
A real training run and a resumed one are checked in test_model_zoo_configs.py."""
import csv
import os
import types

import numpy as np
import pytest
from mindspore import Tensor

from src import callback
from src.callback import COLUMNS, CURVES_FILE, METRICS_FILE, TrainingRecord, draw_curves

STEPS = 4
BATCH = 8
LRS = np.linspace(0.1, 0.4, 3 * STEPS)


class FakeEvaluator:
    def __init__(self):
        self.history = []


def _context(epoch, loss=None):
    args = types.SimpleNamespace(cur_epoch_num=epoch, net_outputs=None if loss is None else Tensor(np.float32(loss)))
    return types.SimpleNamespace(original_args=lambda: args)


def _train(record, epochs, first_step=0, evaluator=None, skip=0):
    """Drive `record` through `epochs` as Model.train would, the first one starting after `skip` steps."""
    for epoch in epochs:
        record.on_train_epoch_begin(_context(epoch))
        for step in range(skip, STEPS):
            record.on_train_step_end(_context(epoch, loss=epoch + step / 10))
        skip = 0
        if evaluator is not None:
            evaluator.history.append((epoch, {"Top1-Acc": 0.25 * epoch, "Top5-Acc": 0.5, "Loss": 3.0 / epoch}))
        record.on_train_epoch_end(_context(epoch))


def _rows(folder):
    with open(os.path.join(folder, METRICS_FILE), newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        assert tuple(reader.fieldnames) == COLUMNS
        return list(reader)


@pytest.fixture
def clock(monkeypatch):
    """time.time() of the record advances 0.5 s per call."""
    ticks = iter(np.arange(1000) * 0.5)
    monkeypatch.setattr(callback, "time", types.SimpleNamespace(time=lambda: float(next(ticks))))


def test_one_row_per_epoch_with_the_epochs_values(tmp_path, clock):
    evaluator = FakeEvaluator()
    record = TrainingRecord(str(tmp_path), STEPS, BATCH, LRS, 0, evaluator=evaluator, printer=lambda *a, **k: None)
    _train(record, [1, 2], evaluator=evaluator)
    rows = _rows(tmp_path)
    assert [(row["epoch"], row["global_step"]) for row in rows] == [("1", "4"), ("2", "8")]
    assert float(rows[1]["train_loss"]) == pytest.approx(2.15)  # mean of 2.0, 2.1, 2.2, 2.3
    assert float(rows[1]["learning_rate"]) == pytest.approx(LRS[7], rel=1e-5)
    assert (rows[1]["top1"], rows[1]["top5"], rows[1]["eval_loss"]) == ("0.5", "0.5", "1.5")
    # Epoch 1 begins at tick 1 (tick 0: construction), its last step ends at tick 5: 2 s for 32 images.
    assert (rows[0]["epoch_seconds"], rows[0]["images_per_second"]) == ("2.00", "16")
    assert os.path.getsize(tmp_path / CURVES_FILE) > 10000
    assert sorted(os.listdir(tmp_path)) == [CURVES_FILE, METRICS_FILE]  # no temporary files left
    # The curves also get every step's loss, at its place in epochs.
    losses = [1.0, 1.1, 1.2, 1.3, 2.0, 2.1, 2.2, 2.3]
    positions, step_losses = record.step_trace()
    assert list(positions) == [step / STEPS for step in range(1, 9)] and list(step_losses) == pytest.approx(losses)


def test_resuming_keeps_earlier_rows_and_replaces_the_rest(tmp_path, clock):
    quiet = {"printer": lambda *a, **k: None}
    _train(TrainingRecord(str(tmp_path), STEPS, BATCH, LRS, 0, **quiet), [1, 2])
    first = _rows(tmp_path)
    # Killed in epoch 3 after its step 2 (its row was never written), resumed from that checkpoint.
    previous = str(tmp_path / METRICS_FILE)
    record = TrainingRecord(str(tmp_path), STEPS, BATCH, LRS, 2 * STEPS + 2, previous, **quiet)
    _train(record, [3], skip=2)
    rows = _rows(tmp_path)
    assert rows[:2] == first and [row["epoch"] for row in rows] == ["1", "2", "3"]
    assert float(rows[2]["train_loss"]) == pytest.approx(3.25)  # the two steps this run trained
    positions, step_losses = record.step_trace()  # in epoch 3 after its step 2
    assert list(positions) == [2.75, 3.0] and list(step_losses) == pytest.approx([3.2, 3.3])
    # Resumed from the checkpoint of epoch 1: epoch 2 is trained again and its row replaced, not repeated.
    _train(TrainingRecord(str(tmp_path), STEPS, BATCH, LRS, STEPS, previous, **quiet), [2, 3])
    assert [row["epoch"] for row in _rows(tmp_path)] == ["1", "2", "3"]
    # A new run (no resume) starts a new record.
    _train(TrainingRecord(str(tmp_path), STEPS, BATCH, LRS, 0, **quiet), [1])
    assert [row["epoch"] for row in _rows(tmp_path)] == ["1"]


def test_curves_without_evaluation_and_with_a_diverged_epoch(tmp_path):
    rows = [{"epoch": "1", "train_loss": "2.3", "eval_loss": "", "top1": ""},
            {"epoch": "2", "train_loss": "1e9", "eval_loss": "", "top1": ""}]
    draw_curves(str(tmp_path / "a.png"), rows, "title")
    with open(tmp_path / "a.png", "rb") as stream:
        assert stream.read(8) == b"\x89PNG\r\n\x1a\n"


def test_curves_draw_the_steps_when_there_are_enough(tmp_path):
    rows = [{"epoch": "1", "train_loss": "2.0", "eval_loss": "2.1", "top1": "0.4"},
            {"epoch": "2", "train_loss": "1.0", "eval_loss": "0.9", "top1": "0.8"}]
    steps = list(np.arange(1, 41) / 20), list(np.linspace(2.3, 0.5, 40))
    pictures = {}
    for name, given in (("none", None), ("few", (steps[0][:9], steps[1][:9])), ("steps", steps)):
        draw_curves(str(tmp_path / f"{name}.png"), rows, "title", given)
        pictures[name] = (tmp_path / f"{name}.png").read_bytes()
    assert pictures["few"] == pictures["none"]  # fewer than callback.STEP_WINDOW steps: no line
    assert pictures["steps"] != pictures["none"]
