"""Training building blocks: learning-rate schedule, parameter groups, label smoothing, callbacks."""
import math
import os
import types

import mindspore as ms
import numpy as np
import pytest

from src.callback import CheckpointSaver, ProgressMonitor, TrainingDiverged
from src.inceptionv4 import Inceptionv4
from src.training.parts import CrossEntropySmooth, create_optimizer, get_lr, param_groups

STEPS = 10


def test_lr_warmup_cosine_and_end():
    lrs = get_lr(lr_init=0.1, lr_end=0.01, lr_max=1.0, warmup_epochs=2, total_epochs=12, steps_per_epoch=STEPS)
    assert lrs.shape == (120,) and lrs.dtype == np.float32
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[10] == pytest.approx(0.1 + 0.9 * 10 / 20)              # linear warm-up
    assert lrs[20] == pytest.approx(1.0)                              # end of warm-up: lr_max
    assert lrs[20 + 50] == pytest.approx((1.0 + 0.01) / 2, rel=1e-5)  # cosine midpoint
    assert lrs[-1] == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 99 / 100)), rel=1e-5)
    assert lrs[-1] < 0.011
    assert np.all(np.diff(lrs[:21]) > 0) and np.all(np.diff(lrs[20:]) < 0)


def test_start_epoch_offset_is_an_index_into_the_same_schedule():
    full = get_lr(4e-5, 4e-6, 0.4, 1, 5, STEPS)
    # train.py starts the optimizer's global step at (start_epoch - 1) * steps_per_epoch.
    start_epoch = 3
    assert full[(start_epoch - 1) * STEPS] == pytest.approx(4e-6 + (0.4 - 4e-6) * 0.5 * (1 + math.cos(math.pi * 10 / 40)))


def test_weight_decay_only_on_conv_and_dense_weights():
    net = Inceptionv4(classes=10)
    decayed, other, order = param_groups(net, 4e-5)
    names = {p.name for p in decayed["params"]}
    assert decayed["weight_decay"] == 4e-5 and other["weight_decay"] == 0.0
    assert len(names) == 149 + 1  # every conv weight and the dense weight
    assert "softmax.dense.weight" in names and "features.0.conv2d_1a_3x3.conv.conv.weight" in names
    assert not any(name.endswith(("gamma", "beta", "bias")) for name in names)
    assert {p.name for p in other["params"]} >= {"softmax.dense.bias", "bn0.gamma",
                                                 "features.0.conv2d_1a_3x3.conv.batchnorm.beta"}
    assert len(decayed["params"]) + len(other["params"]) == len(order["order_params"])


def test_rmsprop_gets_the_config_values():
    cfg = types.SimpleNamespace(weight_decay=4e-5, decay=0.9, momentum=0.9, epsilon=1.0, loss_scale=1024)
    opt = create_optimizer(Inceptionv4(classes=10), ms.Tensor(get_lr(0.1, 0.01, 1.0, 1, 2, 3)), cfg)
    assert type(opt).__name__ == "RMSProp"
    assert opt.decay == pytest.approx(0.9) and opt.momentum == pytest.approx(0.9)
    assert opt.epsilon == pytest.approx(1.0) and opt.loss_scale == pytest.approx(1024)


def test_label_smoothing_matches_hand_computation():
    probs = np.array([[0.7, 0.2, 0.05, 0.05], [0.1, 0.6, 0.2, 0.1]], np.float32)
    labels = np.array([0, 2], np.int32)
    for smooth in (0.0, 0.1, 0.4):
        target = np.full((2, 4), smooth / 4)
        target[np.arange(2), labels] += 1 - smooth
        expected = -(target * np.log(probs)).sum(axis=1).mean()
        loss = CrossEntropySmooth(4, smooth)(ms.Tensor(np.log(probs)), ms.Tensor(labels)).asnumpy()
        assert loss == pytest.approx(expected, rel=1e-5)
    plain = CrossEntropySmooth(4, 0.0)(ms.Tensor(np.log(probs)), ms.Tensor(labels)).asnumpy()
    smoothed = CrossEntropySmooth(4, 0.1)(ms.Tensor(np.log(probs)), ms.Tensor(labels)).asnumpy()
    assert smoothed != pytest.approx(plain)


def _context(loss, network=None):
    args = types.SimpleNamespace(net_outputs=ms.Tensor(np.float32(loss)), train_network=network,
                                 cur_epoch_num=1)
    return types.SimpleNamespace(original_args=lambda: args)


def test_progress_monitor_logs_and_stops_on_nan():
    lines = []
    monitor = ProgressMonitor(steps_per_epoch=4, batch_size=2, start_step=4, learning_rates=np.arange(12) / 10,
                              loss_scale=1024, log_seconds=0.0, printer=lambda *a, **k: lines.append(a[0]))
    monitor.on_train_epoch_begin(None)
    monitor.on_train_step_end(_context(3.0))
    assert lines == []  # the first step of an epoch may include compilation: no rate from it
    monitor.on_train_step_end(_context(2.5))
    assert lines[-1].startswith("epoch 2 step 2/4, loss 2.5000,") and "img/s, epoch ETA 0:00:" in lines[-1]
    for _ in range(2):
        monitor.on_train_step_end(_context(1.25))
    monitor.on_train_epoch_end(None)
    assert lines[-2] == "epoch: 2 step: 4, loss is 1.25"
    assert lines[-1].startswith("Epoch time: ") and ", per step time: " in lines[-1]
    with pytest.raises(TrainingDiverged, match=r"loss is nan at epoch 3 step 1 \(global step 9, learning "
                                               r"rate 0.8, loss scale 1024\)"):
        monitor.on_train_step_end(_context(float("nan")))


def test_checkpoint_saver_keeps_the_newest(tmp_path):
    net = Inceptionv4(classes=3)
    saver = CheckpointSaver(str(tmp_path), "inceptionv4-train", steps_per_epoch=3, total_steps=12, start_step=0,
                            save_epochs=1, save_steps=2, keep_max=3, printer=lambda *a, **k: None)
    for _ in range(12):
        saver.on_train_step_end(_context(1.0, net))
    kept = sorted(os.listdir(tmp_path))
    # Saved after steps 2, 3, 4, 6, 8, 9, 10 (epoch 4 step 1) and 12; the last three remain.
    assert kept == ["inceptionv4-train-3_3.ckpt", "inceptionv4-train-4_1.ckpt", "inceptionv4-train-4_3.ckpt"]
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]  # no temporary files left
