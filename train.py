"""Train Inception-v4: python train.py --config_path CFG --dataset_path DATA [--key value ...]"""
# pylint: disable=wrong-import-position
if __name__ == "__main__":  # before any import starts a thread (src/runtime/interrupt.py)
    from src.runtime.interrupt import catch_signals
    catch_signals()

import os

import mindspore as ms

from src.callback import (METRICS_FILE, PROFILER_DIR, CheckpointSaver, EvalCallBack, ProfilingCallback, ProgressMonitor,
                          StopOnSignal, TrainingRecord)
from src.checkpoint import (CLASS_IDS_KEY, CLASS_NAMES_KEY, PREPROCESSING_KEY, TRAINING_KEY, assign_params,
                            checkpoint_metadata, read_checkpoint)
from src.data.classes import folder_classes
from src.data.files import dataset_class_names
from src.data.preprocessing import image_size_metadata, resolve_image_size, resolve_preprocessing
from src.dataset import create_dataset, explain_pipeline_errors
from src.inceptionv4 import create_network
from src.model_utils.config import get_config
from src.model_utils.moxing_adapter import extract_dataset_zip, moxing_wrapper
from src.runtime import interrupt
from src.runtime.context import init_context, init_distributed
from src.runtime.errors import UserError
from src.runtime.fileio import check_input_file
from src.training.parts import (create_eval_model, create_optimizer, create_train_model, freeze_backbone, get_lr,
                                load_pretrained)
from src.training.runs import (agree_run_id, claim_run_folder, new_run_id, previous_best, resume_command, resume_point,
                               training_metadata)

CKPT_PREFIX = "inceptionv4-train"


def check_train_config(cfg):
    """Reject settings that would fail only after a long graph compile."""
    if cfg.device_target == "CPU" and cfg.amp_level != "O0":
        raise UserError(f"amp_level '{cfg.amp_level}' needs float16 kernels, which the CPU backend lacks: "
                        "use --amp_level O0 on the CPU.")
    if not 1 <= cfg.start_epoch <= cfg.epoch_size:
        raise UserError(f"start_epoch {cfg.start_epoch} must lie in [1, epoch_size={cfg.epoch_size}].")
    if cfg.pretrained and cfg.resume:
        raise UserError("set either 'pretrained' (start a new run from its weights) or 'resume' (continue the run "
                        "that wrote it), not both.")
    if cfg.pretrained:
        check_input_file(cfg.pretrained, "pretrained checkpoint", "pass a .ckpt file (convert timm/mindcv weights "
                         "with python -m src.tools.convert_checkpoint).")
    if cfg.resume:
        check_input_file(cfg.resume, "resume checkpoint", "pass a .ckpt file of the run to continue, or leave "
                         "resume empty to start afresh.")


def training_class_names(cfg, recorded):
    """The training data's classes in label order (recorded in every checkpoint): (names, WordNet ids), see
    src.data.classes.folder_classes; (None, None) for CIFAR-10 without names. UserError when an ImageNet-style
    folder has fewer class folders than num_classes (unless allow_fewer_classes) or when the resumed
    checkpoint's metadata `recorded` names other classes."""
    names = dataset_class_names(cfg.dataset_path, cfg.ds_type, True)
    if cfg.ds_type == "imagenet" and len(names) < cfg.num_classes and not cfg.allow_fewer_classes:
        raise UserError(f"the training data '{cfg.dataset_path}' has {len(names)} class folders but num_classes is "
                        f"{cfg.num_classes}: set --num_classes {len(names)}, add the missing class folders, or "
                        f"pass --allow_fewer_classes True to train {cfg.num_classes} outputs on {len(names)} classes.")
    before = recorded.get(CLASS_IDS_KEY) or recorded.get(CLASS_NAMES_KEY)
    if before and names and list(before) != names:
        changed = sorted(set(before) ^ set(names)) or ["(the same names in another order)"]
        raise UserError(f"'{cfg.resume}' was trained on other classes than those of '{cfg.dataset_path}' (differing: "
                        f"{', '.join(changed[:5])}): resume on the data it was trained on.")
    return folder_classes(names) if cfg.ds_type == "imagenet" else (names, None)


def restore(cfg, params, net, optimizer, steps_per_epoch, group_size):
    """Load `params`, the checkpoint dict of `cfg.resume`, into the network and optimizer; return the steps done
    in this run's steps (src.training.runs), or None for a checkpoint that holds weights only."""
    assign_params(net, params, cfg.resume)
    if "global_step" not in params:
        print(f"resume: '{cfg.resume}' holds weights only; optimizer state starts afresh at epoch "
              f"{cfg.start_epoch}", flush=True)
        return None
    state = {param.name: params[param.name] for param in optimizer.get_parameters()
             if param.name in params and param.name != "learning_rate"}
    ms.load_param_into_net(optimizer, state)
    point = resume_point(checkpoint_metadata(params, cfg.resume).get(TRAINING_KEY, {}),
                         int(params["global_step"].asnumpy().reshape(-1)[0]), steps_per_epoch, cfg.batch_size,
                         group_size, cfg.resume)
    if point.note:
        print(f"resume: {point.note}", flush=True)
    return point.done


def stop_detail(saver, cfg):
    """Where a stopped run can continue from: its newest checkpoint and the command."""
    path = saver.last[1] if saver and saver.last else cfg.resume
    if not path:
        return "No checkpoint was written yet: start the run again with the same command"
    return f"Last complete checkpoint: '{os.path.abspath(path)}'. Continue with: {resume_command(path)}"


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
    dataset = create_dataset(cfg, cfg.dataset_path, True, rank_id=rank_id, group_size=group_size,
                             shuffle=cfg.shuffle, preprocessing=prep)
    steps_per_epoch = dataset.get_dataset_size()
    if steps_per_epoch == 0:
        raise UserError(f"'{cfg.dataset_path}' yields no full batch of {cfg.batch_size} images per device: "
                        "lower batch_size or add data.")
    total_steps = cfg.epoch_size * steps_per_epoch

    net = create_network(cfg, is_train=True)
    if pretrained:
        load_pretrained(cfg, net, pretrained)
    if cfg.freeze_backbone:
        freeze_backbone(net)
    lrs = get_lr(cfg.lr_init, cfg.lr_end, cfg.lr_max, cfg.warmup_epochs, cfg.epoch_size, steps_per_epoch)
    optimizer = create_optimizer(net, ms.Tensor(lrs), cfg)
    done = restore(cfg, resumed, net, optimizer, steps_per_epoch, group_size) if cfg.resume else None
    if done is None:
        done = (cfg.start_epoch - 1) * steps_per_epoch
    if done >= total_steps:
        raise UserError(f"'{cfg.resume}' already completed {done} steps = {cfg.epoch_size} epochs: raise "
                        "epoch_size to train further.")
    optimizer.global_step.set_data(ms.Tensor([done], ms.int32))

    model = create_train_model(cfg, net, optimizer)
    callbacks = [ProgressMonitor(steps_per_epoch, cfg.batch_size, done, lrs, cfg.loss_scale)]
    saver = None
    if writer:
        metadata = {PREPROCESSING_KEY: prep.to_dict(), **image_size_metadata(cfg),
                    **({CLASS_NAMES_KEY: class_names} if class_names else {}),
                    **({CLASS_IDS_KEY: class_ids} if class_ids else {})}
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
    with explain_pipeline_errors(), interrupt.safe_points():
        try:
            if skip:  # resume mid-epoch: finish that epoch without the batches already trained on
                partial = create_dataset(cfg, cfg.dataset_path, True, rank_id=rank_id, group_size=group_size,
                                         shuffle=cfg.shuffle, preprocessing=prep).skip(skip)
                model.train(first_epoch + 1, partial, callbacks=callbacks, dataset_sink_mode=False,
                            initial_epoch=first_epoch)
                first_epoch += 1
            if first_epoch < cfg.epoch_size:
                model.train(cfg.epoch_size, dataset, callbacks=callbacks, dataset_sink_mode=cfg.ds_sink_mode,
                            initial_epoch=first_epoch)
        except interrupt.Interrupted as stop:
            stop.detail = stop_detail(saver, cfg)
            raise
    print(f"train: finished {total_steps} steps", flush=True)


@interrupt.entry_point
def main():
    run_train(get_config(description="Train Inception-v4."))


if __name__ == "__main__":
    main()
