"""Training and evaluation throughput of Inception-v4 on the CPU, graph mode.

    python benchmarks/bench_train.py                          # the README table (takes ~20 min)
    python benchmarks/bench_train.py --batch_size 8 --steps 3 --isa ALL --jit_level O1 --sink
    python benchmarks/bench_train.py --batch_size 16 --size 75 --freeze_backbone   # head-only fine-tuning

Without --batch_size, runs the standard set of variants, each in a fresh process (oneDNN reads its
ISA cap once per process), and prints one Markdown table row per variant. Images are random
tensors, so the data pipeline is not measured here (see bench_pipeline.py).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from timing import time_predict  # noqa: E402  (benchmarks/timing.py, beside this script)

VARIANTS = [  # (batch, steps, isa, extra options)
    (8, 4, "AVX2", []),
    (32, 3, "AVX2", []),
    (8, 4, "AVX2", ["--jit_level", "O1"]),
    (8, 4, "AVX2", ["--threads", "1"]),
    (8, 4, "AVX2", ["--sink"]),
    (8, 4, "AVX2", ["--graph_kernel"]),
    (8, 1, "ALL", []),
]


class StepTimer:
    """Wall time of every train step, from the ends of consecutive steps (works in sink mode with
    sink_size=1 too, where step callbacks come once per sunk step)."""

    def __init__(self):
        from mindspore.train import Callback

        timer = self

        class _Callback(Callback):
            def on_train_begin(self, run_context):
                timer.last = time.perf_counter()

            def on_train_step_end(self, run_context):
                outputs = run_context.original_args().net_outputs
                (outputs[0] if isinstance(outputs, (tuple, list)) else outputs).asnumpy()
                now = time.perf_counter()
                timer.times.append(now - timer.last)
                timer.last = now

        self.times = []
        self.last = 0.0
        self.callback = _Callback()


def worker(args):
    """Measure one variant in this process and print a JSON line."""
    os.environ["ONEDNN_MAX_CPU_ISA"] = args.isa
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import numpy as np
    import mindspore as ms
    import mindspore.dataset as ds
    from mindspore.train import Model

    from src.inceptionv4 import network_from_config
    from src.model_utils.config import get_config
    from src.runtime.context import init_context
    from src.training.parts import create_optimizer, create_train_model, freeze_backbone, get_lr

    size = str(args.size)
    cfg = get_config(["--config_path", os.path.join(ROOT, "default_config_cpu.yaml"), "--batch_size",
                      str(args.batch_size), "--width", size, "--height", size])
    init_context(cfg)
    if args.jit_level:
        ms.set_context(jit_config={"jit_level": args.jit_level})
    if args.threads:
        ms.set_context(inter_op_parallel_num=args.threads)
    if args.graph_kernel:
        # Graph kernel fusion writes akg_kernel_meta/ and kernel_build_tmp.key under MS_COMPILER_CACHE_PATH
        # (default: the working directory): keep them out of the checkout.
        os.environ.setdefault("MS_COMPILER_CACHE_PATH", tempfile.mkdtemp(prefix="inceptionv4_akg_"))
        ms.set_context(enable_graph_kernel=True)
    rng = np.random.default_rng(0)
    batch = rng.standard_normal((args.batch_size, 3, args.size, args.size)).astype(np.float32)
    labels = rng.integers(0, cfg.num_classes, args.batch_size).astype(np.int32)
    steps = args.steps + 1
    data = ds.GeneratorDataset(lambda: ((batch, labels) for _ in range(steps)), ["image", "label"])

    net = network_from_config(cfg)
    if args.freeze_backbone:
        freeze_backbone(net)
    lrs = get_lr(cfg.lr_init, cfg.lr_end, cfg.lr_max, cfg.warmup_epochs, 2, steps)  # spare: sink mode runs ahead
    model = create_train_model(cfg, net, create_optimizer(net, ms.Tensor(lrs), cfg))
    timer = StepTimer()
    if args.sink:
        model.train(steps, data, callbacks=[timer.callback], dataset_sink_mode=True, sink_size=1)
    else:
        model.train(1, data, callbacks=[timer.callback], dataset_sink_mode=False)
    train_step = statistics.median(timer.times[1:])

    net.set_train(False)
    eval_first, eval_step = time_predict(Model(net), ms.Tensor(batch), args.steps)
    print(json.dumps({
        "batch": args.batch_size, "size": args.size, "isa": args.isa, "jit_level": args.jit_level or "default",
        "threads": args.threads or "default", "sink": args.sink, "graph_kernel": args.graph_kernel,
        "freeze_backbone": args.freeze_backbone,
        "train_compile_s": round(timer.times[0] - train_step, 1),
        "train_step_s": round(train_step, 3), "train_img_s": round(args.batch_size / train_step, 2),
        "eval_compile_s": round(eval_first - eval_step, 1), "eval_img_s": round(args.batch_size / eval_step, 2),
    }), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, help="measure one variant with this batch size")
    parser.add_argument("--size", type=int, default=299, help="image height and width")
    parser.add_argument("--steps", type=int, default=4, help="timed steps after the compiling one")
    parser.add_argument("--isa", default="AVX2", help="ONEDNN_MAX_CPU_ISA (ALL: no cap)")
    parser.add_argument("--jit_level", default="", help="MindSpore jit_level (O0, O1); default: MindSpore's")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS and inter-op threads; 0: default")
    parser.add_argument("--sink", action="store_true", help="train in data sink mode (sink_size 1)")
    parser.add_argument("--graph_kernel", action="store_true", help="enable graph kernel fusion")
    parser.add_argument("--freeze_backbone", action="store_true", help="train only the head (config freeze_backbone)")
    args = parser.parse_args()
    if args.batch_size:
        worker(args)
        return
    print("| batch | oneDNN ISA | options | train img/s | train compile s | eval img/s | eval compile s |")
    print("|---|---|---|---|---|---|---|")
    for batch, steps, isa, options in VARIANTS:
        cmd = [sys.executable, __file__, "--batch_size", str(batch), "--size", str(args.size), "--steps",
               str(steps), "--isa", isa, *options]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
        label = " ".join(options) or "-"
        if run.returncode or not lines:
            error = [line for line in run.stderr.splitlines() if "Error" in line or "error" in line]
            print(f"| {batch} | {isa} | {label} | failed: {error[-1][:150] if error else run.returncode} ||||",
                  flush=True)
            continue
        r = json.loads(lines[-1])
        print(f"| {batch} | {isa} | {label} | {r['train_img_s']} | {r['train_compile_s']} | {r['eval_img_s']} | "
              f"{r['eval_compile_s']} |", flush=True)

if __name__ == "__main__":
    main()
