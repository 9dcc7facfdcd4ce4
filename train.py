"""Train Inception-v4: python train.py --config_path CFG --dataset_path DATA [--key value ...]"""
# pylint: disable=wrong-import-position
if __name__ == "__main__":  # before any import starts a thread (src/runtime/stops.py)
    from src.runtime.stops import catch_signals
    catch_signals()

import os

import mindspore as ms

from src.callback import (METRICS_FILE, PROFILER_DIR, CheckpointSaver, EvalCallBack, ProfilingCallback, ProgressMonitor,
                          StopOnSignal, TrainingRecord)
from src.checkpoint import TRAINING_KEY, checkpoint_metadata, read_checkpoint, weights_metadata
from src.inputs.preprocessing import resolve_image_size, resolve_preprocessing
from src.dataset import explain_pipeline_errors
from src.model_utils.config import get_config
from src.model_utils.moxing_adapter import extract_dataset_zip, moxing_wrapper
from src.runtime import stops
from src.runtime.context import init_context, init_distributed
from src.training.parts import (create_eval_model, create_optimizer, create_train_dataset, create_train_model,
                                create_train_network, get_lr)
from src.training.runs import (CKPT_PREFIX, agree_run_id, check_train_config, claim_run_folder, new_run_id,
                               previous_best, starting_step, stop_detail, training_class_names, training_metadata)


@moxing_wrapper(pre_process=extract_dataset_zip)
def run_train(cfg):
    """Build data, network, optimizer and callbacks from `cfg` and train."""
    check_train_config(cfg)
    init_context(cfg)
    rank_id, group_size = init_distributed()
    resumed = read_checkpoint(cfg.resume) if cfg.resume else None
    recorded = checkpoint_metadata(resumed, cfg.resume) if resumed else {}
    run_id = recorded.get(TRAINING_KEY, {}).get("run_id") or agree_run_id(new_run_id(), group_size)
    ckpt_dir = os.path.join(cfg.ckpt_path, f"ckpt_{rank_id}")
    writer = not cfg.is_save_on_master or rank_id == 0
    run_folder = claim_run_folder(ckpt_dir, CKPT_PREFIX, run_id, cfg.resume) if writer else None
    class_names, class_ids = training_class_names(cfg, recorded)
    pretrained = read_checkpoint(cfg.pretrained) if cfg.pretrained else None
    weights = f"'{cfg.resume or cfg.pretrained}'"
    start = recorded or (checkpoint_metadata(pretrained, cfg.pretrained) if pretrained else {})
    cfg = resolve_image_size(cfg, start, weights)
    prep = resolve_preprocessing(cfg, start, weights)
    print(f"{prep.describe(cfg.height, cfg.width, crop=cfg.ds_type == 'imagenet')} (evaluation; training uses the "
          "same mean/std; recorded in the checkpoints)", flush=True)
    ms.set_seed(cfg.seed)
    dataset = create_train_dataset(cfg, rank_id, group_size, prep)
    steps_per_epoch = dataset.get_dataset_size()
    total_steps = cfg.epoch_size * steps_per_epoch

    net = create_train_network(cfg, pretrained)
    lrs = get_lr(cfg.lr_init, cfg.lr_end, cfg.lr_max, cfg.warmup_epochs, cfg.epoch_size, steps_per_epoch)
    optimizer = create_optimizer(net, ms.Tensor(lrs), cfg)
    done = starting_step(cfg, resumed, net, optimizer, steps_per_epoch, group_size)

    model = create_train_model(cfg, net, optimizer)
    callbacks = [ProgressMonitor(steps_per_epoch, cfg.batch_size, done, lrs, cfg.loss_scale)]
    saver = None
    if writer:
        metadata = weights_metadata(prep, cfg.height, cfg.width, class_names, class_ids)
        saver = CheckpointSaver(ckpt_dir, CKPT_PREFIX, steps_per_epoch, total_steps, done,
                                cfg.save_checkpoint_epochs, cfg.save_checkpoint_steps, cfg.keep_checkpoint_max,
                                metadata=lambda step: {**metadata, TRAINING_KEY: training_metadata(
                                    step, steps_per_epoch, cfg.batch_size, group_size, run_id)})
        callbacks.append(saver)
        evaluator = None
        if cfg.eval_dataset_path:
            eval_model, eval_data = create_eval_model(cfg, net, cfg.eval_dataset_path, prep, class_names, class_ids)
            best_path = os.path.join(ckpt_dir, "inceptionv4-best.ckpt")
            evaluator = EvalCallBack(lambda: eval_model.eval(eval_data, callbacks=[StopOnSignal()],
                                                             dataset_sink_mode=False),
                                     cfg.eval_interval, net, best_path, cfg.epoch_size,
                                     metadata={**metadata, TRAINING_KEY: {"run_id": run_id}},
                                     best=previous_best(best_path, run_id) if cfg.resume else None)
            callbacks.append(evaluator)
        previous = os.path.join(os.path.dirname(cfg.resume), METRICS_FILE) if cfg.resume else None
        callbacks.append(TrainingRecord(ckpt_dir, steps_per_epoch, cfg.batch_size, lrs, done, previous, evaluator))
        if cfg.enable_profiling:
            callbacks.append(ProfilingCallback(os.path.join(ckpt_dir, PROFILER_DIR), cfg.profiling_steps,
                                               cfg.device_target))
    callbacks.append(StopOnSignal(saver.save if saver else None))
    print(f"train: {steps_per_epoch} steps per epoch on rank {rank_id} of {group_size}, starting after "
          f"step {done} (epoch {done // steps_per_epoch + 1}), checkpoints in {ckpt_dir} (run {run_id})", flush=True)
    if run_folder and run_folder.removed:
        print(f"train: removed {len(run_folder.removed)} temporary file(s) an interrupted run left in {ckpt_dir}: "
              f"{', '.join(run_folder.removed)}", flush=True)

    first_epoch, skip = divmod(done, steps_per_epoch)
    with explain_pipeline_errors(), stops.safe_points():
        try:
            if skip:  # resume mid-epoch: finish that epoch without the batches already trained on
                partial = create_train_dataset(cfg, rank_id, group_size, prep, skip)
                model.train(first_epoch + 1, partial, callbacks=callbacks, dataset_sink_mode=False,
                            initial_epoch=first_epoch)
                first_epoch += 1
            if first_epoch < cfg.epoch_size:
                model.train(cfg.epoch_size, dataset, callbacks=callbacks, dataset_sink_mode=cfg.ds_sink_mode,
                            initial_epoch=first_epoch)
        except stops.Interrupted as stop:
            stop.detail = stop_detail(saver, cfg)
            raise
    print(f"train: finished {total_steps} steps", flush=True)


@stops.entry_point
def main():
    run_train(get_config(description="Train Inception-v4."))


if __name__ == "__main__":
    main()
