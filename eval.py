"""Evaluate a checkpoint: python eval.py --config_path CFG --dataset_path DATA --checkpoint_path CKPT

Prints `metric: {'Loss': ..., 'Top1-Acc': ..., 'Top5-Acc': ...}` over every image of the eval split
(ImageNet val/ folder or CIFAR-10 test batch, per ds_type); the last batch may be smaller. Class folders are
labelled by WordNet id (n01440764) or name with the classes the checkpoint records. --checkpoint_path
MODEL.mindir evaluates an exported MINDIR file instead (nn.GraphCell), with the preprocessing and classes it
records and its input size and batch (a last, smaller batch is completed with zero images that are not scored).
"""
# pylint: disable=wrong-import-position
if __name__ == "__main__":  # before any import starts a thread (src/runtime/stops.py)
    from src.runtime.stops import catch_signals
    catch_signals()

from src.callback import ImageCounter, StopOnSignal
from src.checkpoint import exported_format
from src.inputs.files import class_indexing, dataset_class_names, evaluation_classes
from src.inputs.preprocessing import resolve_preprocessing
from src.dataset import explain_pipeline_errors
from src.deploy.inference import open_checkpoint
from src.deploy.runners import MindirClassifier, data_config
from src.model_utils.config import get_config
from src.model_utils.moxing_adapter import extract_dataset_zip, moxing_wrapper
from src.runtime import stops
from src.runtime.context import init_context
from src.runtime.stops import UserError
from src.training.parts import create_eval_model


def load_model(cfg):
    """(network, recorded metadata, cfg) of --checkpoint_path: a checkpoint (cfg with the image size it records
    unless set on the command line), or an exported MINDIR file whose input size and batch size replace the
    config's."""
    if exported_format(cfg.checkpoint_path) == "MINDIR":
        model = MindirClassifier(cfg.checkpoint_path)
        if model.num_classes != cfg.num_classes:
            raise UserError(f"'{model.path}' has {model.num_classes} outputs but num_classes is {cfg.num_classes}: "
                            f"pass --num_classes {model.num_classes}.")
        return model.cell, model.metadata, data_config(cfg, model, "eval")
    return open_checkpoint(cfg, cfg.checkpoint_path)


@moxing_wrapper(pre_process=extract_dataset_zip)
def run_eval(cfg):
    """Load `cfg.checkpoint_path` and evaluate it on `cfg.dataset_path`; return (metrics, image count)."""
    init_context(cfg)
    net, metadata, cfg = load_model(cfg)
    prep = resolve_preprocessing(cfg, metadata, f"'{cfg.checkpoint_path}'")
    print(prep.describe(cfg.height, cfg.width, crop=cfg.ds_type == "imagenet"), flush=True)
    class_names, class_ids = evaluation_classes(cfg.dataset_path, cfg.ds_type, cfg.num_classes, metadata,
                                                f"'{cfg.checkpoint_path}'")
    model, dataset = create_eval_model(cfg, net, cfg.dataset_path, prep, class_names, class_ids)
    if class_names and cfg.ds_type == "imagenet":
        folders = dataset_class_names(cfg.dataset_path, cfg.ds_type, False)
        found = set(class_indexing(cfg.dataset_path, folders, class_names, class_ids).values())
        missing = [name for label, name in enumerate(class_names) if label not in found]
        how = "WordNet id or name" if class_ids else "name"
        print(f"eval: class folders labelled by {how} with the {len(class_names)} classes of "
              f"'{cfg.checkpoint_path}'" + (f"; no images of {len(missing)}: {', '.join(sorted(missing)[:10])}"
                                            if missing else ""), flush=True)
    counter = ImageCounter()
    with explain_pipeline_errors(), stops.safe_points():
        try:
            metrics = model.eval(dataset, callbacks=[counter, StopOnSignal()], dataset_sink_mode=False)
        except stops.Interrupted as stop:
            stop.detail = f"It had scored {counter.count} images; no accuracy is reported"
            raise
    return metrics, counter.count


@stops.entry_point
def main():
    cfg = get_config(description="Evaluate an Inception-v4 checkpoint.")
    metrics, count = run_eval(cfg)
    print(f"eval: {count} images of '{cfg.dataset_path}' with '{cfg.checkpoint_path}'", flush=True)
    print(f"metric: {metrics}", flush=True)


if __name__ == "__main__":
    main()
