"""Evaluate a checkpoint: python eval.py --config_path CFG --dataset_path DATA --checkpoint_path CKPT

Prints `metric: {'Loss': ..., 'Top1-Acc': ..., 'Top5-Acc': ...}` over every image of the eval split
(ImageNet val/ folder or CIFAR-10 test batch, per ds_type); the last batch may be smaller.
"""
from mindspore.train import Callback

from src.checkpoint import load_params
from src.context import init_context
from src.dataset import explain_pipeline_errors
from src.errors import report_user_errors
from src.evaluation import create_eval_model
from src.inceptionv4 import create_network
from src.inference import check_batch_and_size
from src.model_utils.config import get_config
from src.model_utils.modelarts_unzip import modelarts_pre_process
from src.model_utils.moxing_adapter import moxing_wrapper


class ImageCounter(Callback):
    """Counts the images Model.eval scores (the labels of each batch)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def on_eval_step_end(self, run_context):
        self.count += run_context.original_args().eval_dataset_element[-1].shape[0]


@moxing_wrapper(pre_process=modelarts_pre_process)
def run_eval(cfg):
    """Load `cfg.checkpoint_path` and evaluate it on `cfg.dataset_path`; return (metrics, image count)."""
    check_batch_and_size(cfg)
    init_context(cfg)
    net = create_network(cfg, is_train=False)
    load_params(net, cfg.checkpoint_path)
    model, dataset = create_eval_model(cfg, net, cfg.dataset_path)
    counter = ImageCounter()
    with explain_pipeline_errors():
        metrics = model.eval(dataset, callbacks=[counter], dataset_sink_mode=False)
    return metrics, counter.count


@report_user_errors
def main():
    cfg = get_config(description="Evaluate an Inception-v4 checkpoint.")
    metrics, count = run_eval(cfg)
    print(f"eval: {count} images of '{cfg.dataset_path}' with '{cfg.checkpoint_path}'", flush=True)
    print(f"metric: {metrics}", flush=True)


if __name__ == "__main__":
    main()
