"""CPU inference throughput: MindSpore with and without BatchNorm folding, and onnxruntime on ONNX files
(float32 or INT8).

    python benchmarks/bench_inference.py mindspore [--size 299] [--batch_size 8] [--steps 4]
    python benchmarks/bench_inference.py onnx MODEL.onnx [MODEL_INT8.onnx ...] [--rounds 5] [--runs 10]

`mindspore` runs the eval-mode network (random weights: speed does not depend on them) unfolded and
folded (src/deploy/inference.py), each in fresh processes, and prints eval img/s (median timed step) and the
compile time (first call minus one step), medians over the repeats. `onnx` times session.run on each file
at the batch and size it was exported with and prints the median and best round in img/s and the file
size. Both alternate between the variants, so that changing load on a shared machine hits all alike.
"""
import argparse
import functools
import json
import os
import statistics
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from timing import alternating_rates, time_predict  # noqa: E402  (benchmarks/timing.py, beside this script)


def mindspore_worker(args):
    """Measure one variant (args.fold) in this fresh process and print a JSON line."""
    from src.runtime.context import apply_cpu_defaults
    apply_cpu_defaults("CPU")
    import mindspore as ms
    from mindspore.train import Model

    from src.deploy.inference import fold_batchnorm
    from src.inceptionv4 import Inceptionv4

    ms.set_context(mode=ms.GRAPH_MODE)
    net = Inceptionv4(classes=args.num_classes, is_train=False)
    if args.fold:
        fold_batchnorm(net)
    images = ms.Tensor(np.random.default_rng(0).standard_normal(
        (args.batch_size, 3, args.size, args.size)).astype(np.float32))
    first, step = time_predict(Model(net), images, args.steps)
    print(json.dumps({"img_s": args.batch_size / step, "compile_s": first - step}), flush=True)


def bench_mindspore(args):
    """Each variant in a fresh process (a compile in a process that already compiled costs less), the two
    alternating `args.repeats` times so that changing load hits both alike; medians over the repeats."""
    print(f"MindSpore eval, {args.size}x{args.size}, batch {args.batch_size}, {args.steps} timed steps, "
          f"{args.repeats} alternating runs per variant")
    results = {False: [], True: []}
    for _ in range(args.repeats):
        for fold in (False, True):
            cmd = [sys.executable, __file__, "mindspore", "--size", str(args.size), "--batch_size",
                   str(args.batch_size), "--steps", str(args.steps), "--num_classes", str(args.num_classes),
                   "--fold" if fold else "--no-fold"]
            run = subprocess.run(cmd, capture_output=True, text=True, check=False)
            lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
            if run.returncode or not lines:
                sys.exit(f"worker failed:\n{run.stderr[-3000:]}")
            results[fold].append(json.loads(lines[-1]))
    print("| BatchNorm | eval img/s | compile s |\n|---|---|---|")
    for fold, label in ((False, "separate (unfolded)"), (True, "folded into the convs")):
        rate = statistics.median(r["img_s"] for r in results[fold])
        compile_s = statistics.median(r["compile_s"] for r in results[fold])
        print(f"| {label} | {rate:.2f} | {compile_s:.1f} |", flush=True)


def bench_onnx(args):
    import onnxruntime as ort

    sessions = []
    for path in args.models:
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        model_input = session.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in model_input.shape]
        feed = {model_input.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
        sessions.append((path, functools.partial(session.run, None, feed), shape))
    rates = alternating_rates([(path, run, shape[0]) for path, run, shape in sessions], args.rounds, args.runs)
    print("| model | input | img/s (median) | img/s (best) | size MB |\n|---|---|---|---|---|")
    for path, _, shape in sessions:
        print(f"| {os.path.basename(path)} | {'x'.join(map(str, shape))} | {statistics.median(rates[path]):.1f} | "
              f"{max(rates[path]):.1f} | {os.path.getsize(path) / 1e6:.1f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    ms_parser = sub.add_parser("mindspore", help="MindSpore eval, unfolded vs folded")
    ms_parser.add_argument("--size", type=int, default=299, help="image height and width")
    ms_parser.add_argument("--batch_size", type=int, default=8)
    ms_parser.add_argument("--steps", type=int, default=4, help="timed steps of each variant after its compiling one")
    ms_parser.add_argument("--num_classes", type=int, default=1000)
    ms_parser.add_argument("--repeats", type=int, default=3, help="fresh-process runs of each variant")
    ms_parser.add_argument("--fold", action=argparse.BooleanOptionalAction, default=None, help=argparse.SUPPRESS)
    onnx_parser = sub.add_parser("onnx", help="onnxruntime throughput of ONNX files")
    onnx_parser.add_argument("models", nargs="+", help="ONNX files")
    onnx_parser.add_argument("--rounds", type=int, default=5, help="alternating rounds over the files")
    onnx_parser.add_argument("--runs", type=int, default=10, help="session.run calls per file and round")
    args = parser.parse_args()
    if args.what == "onnx":
        bench_onnx(args)
    elif args.fold is None:
        bench_mindspore(args)
    else:
        mindspore_worker(args)


if __name__ == "__main__":
    main()
