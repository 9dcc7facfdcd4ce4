"""Train Inception-v4: python train.py --config_path CFG --dataset_path DATA [--key value ...]"""
import os

import mindspore as ms

from src.callback import CheckpointSaver, EvalCallBack, ProgressMonitor
from src.checkpoint import load_params
from src.context import init_context, init_distributed
from src.dataset import create_dataset, explain_pipeline_errors
from src.errors import UserError, report_user_errors
from src.evaluation import create_eval_model
from src.inceptionv4 import create_network
from src.inference import check_batch_and_size
from src.lr_schedule import get_lr
from src.model_utils.config import get_config
from src.model_utils.modelarts_unzip import modelarts_pre_process
from src.model_utils.moxing_adapter import moxing_wrapper
from src.training import create_optimizer, create_train_model

CKPT_PREFIX = "inceptionv4-train"


def check_train_config(cfg):
    """Reject settings that would fail only after a long graph compile."""
    check_batch_and_size(cfg)
    if cfg.device_target == "CPU" and cfg.amp_level != "O0":
        raise UserError(f"amp_level '{cfg.amp_level}' needs float16 kernels, which the CPU backend lacks: "
                        "use --amp_level O0 on the CPU.")
    if not 1 <= cfg.start_epoch <= cfg.epoch_size:
        raise UserError(f"start_epoch {cfg.start_epoch} must lie in [1, epoch_size={cfg.epoch_size}].")
    if not 0.0 < cfg.dropout_keep_prob <= 1.0:
        raise UserError(f"dropout_keep_prob {cfg.dropout_keep_prob} must lie in (0, 1].")
    for key in ("epoch_size", "save_checkpoint_epochs", "keep_checkpoint_max", "eval_interval"):
        if getattr(cfg, key) < 1:
            raise UserError(f"config key '{key}' must be at least 1, got {getattr(cfg, key)}.")
    if cfg.resume and not os.path.isfile(cfg.resume):
        raise UserError(f"resume checkpoint '{cfg.resume}' does not exist: pass an existing .ckpt file or "
                        "leave resume empty to start afresh.")


def restore(cfg, net, optimizer):
    """Load `cfg.resume` into the network and optimizer; return the global step it reached, or None for a
    checkpoint that holds weights only."""
    params = load_params(net, cfg.resume)
    if "global_step" not in params:
        print(f"resume: '{cfg.resume}' holds weights only; optimizer state starts afresh at epoch "
              f"{cfg.start_epoch}", flush=True)
        return None
    state = {param.name: params[param.name] for param in optimizer.get_parameters()
             if param.name in params and param.name != "learning_rate"}
    ms.load_param_into_net(optimizer, state)
    return int(params["global_step"].asnumpy().reshape(-1)[0])


@moxing_wrapper(pre_process=modelarts_pre_process)
def run_train(cfg):
    """Build data, network, optimizer and callbacks from `cfg` and train."""
    check_train_config(cfg)
    init_context(cfg)
    rank_id, group_size = init_distributed()
    ms.set_seed(cfg.seed)
    dataset = create_dataset(cfg, cfg.dataset_path, True, rank_id=rank_id, group_size=group_size,
                             shuffle=cfg.shuffle)
    steps_per_epoch = dataset.get_dataset_size()
    if steps_per_epoch == 0:
        raise UserError(f"'{cfg.dataset_path}' yields no full batch of {cfg.batch_size} images per device: "
                        "lower batch_size or add data.")
    total_steps = cfg.epoch_size * steps_per_epoch

    net = create_network(cfg, is_train=True)
    lrs = get_lr(cfg.lr_init, cfg.lr_end, cfg.lr_max, cfg.warmup_epochs, cfg.epoch_size, steps_per_epoch)
    optimizer = create_optimizer(net, ms.Tensor(lrs), cfg)
    done = restore(cfg, net, optimizer) if cfg.resume else None
    if done is None:
        done = (cfg.start_epoch - 1) * steps_per_epoch
    if done >= total_steps:
        raise UserError(f"'{cfg.resume}' already completed {done} steps = {cfg.epoch_size} epochs: raise "
                        "epoch_size to train further.")
    optimizer.global_step.set_data(ms.Tensor([done], ms.int32))

    model = create_train_model(cfg, net, optimizer)
    ckpt_dir = os.path.join(cfg.ckpt_path, f"ckpt_{rank_id}")
    callbacks = [ProgressMonitor(steps_per_epoch, cfg.batch_size, done, lrs, cfg.loss_scale)]
    if not cfg.is_save_on_master or rank_id == 0:
        callbacks.append(CheckpointSaver(ckpt_dir, CKPT_PREFIX, steps_per_epoch, total_steps, done,
                                         cfg.save_checkpoint_epochs, cfg.save_checkpoint_steps,
                                         cfg.keep_checkpoint_max))
        if cfg.eval_dataset_path:
            eval_model, eval_data = create_eval_model(cfg, net, cfg.eval_dataset_path)
            callbacks.append(EvalCallBack(lambda: eval_model.eval(eval_data, dataset_sink_mode=False),
                                          cfg.eval_interval, net, os.path.join(ckpt_dir, "inceptionv4-best.ckpt"),
                                          cfg.epoch_size))
    print(f"train: {steps_per_epoch} steps per epoch on rank {rank_id} of {group_size}, starting after "
          f"step {done} (epoch {done // steps_per_epoch + 1}), checkpoints in {ckpt_dir}", flush=True)

    first_epoch, skip = divmod(done, steps_per_epoch)
    with explain_pipeline_errors():
        if skip:  # resume mid-epoch: finish that epoch without the batches already trained on
            partial = create_dataset(cfg, cfg.dataset_path, True, rank_id=rank_id, group_size=group_size,
                                     shuffle=cfg.shuffle).skip(skip)
            model.train(first_epoch + 1, partial, callbacks=callbacks, dataset_sink_mode=False,
                        initial_epoch=first_epoch)
            first_epoch += 1
        if first_epoch < cfg.epoch_size:
            model.train(cfg.epoch_size, dataset, callbacks=callbacks, dataset_sink_mode=cfg.ds_sink_mode,
                        initial_epoch=first_epoch)
    print(f"train: finished {total_steps} steps", flush=True)


@report_user_errors
def main():
    run_train(get_config(description="Train Inception-v4."))


if __name__ == "__main__":
    main()
