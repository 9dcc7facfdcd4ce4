"""Time `bash scripts/quickstart.sh` stage by stage and report its held-out accuracy, with the machine.

    python benchmarks/bench_quickstart.py [--runs 1] [--out /tmp/bench_quickstart] [-- --key value ...]

Settings after `--` go to the quickstart's train.py (they override its own, e.g. `-- --epoch_size 4`), so
one command measures a variant. The venv must already be set up (its set-up time is not part of the
figures). Prints one line per run: seconds per stage, the whole script's seconds, eval.py's top-1, the ONNX
top-1, each epoch's training seconds, images/s and top-1 (from the run's metrics.csv), the evaluations' seconds,
the load average before and after, and the CPU (model, cores, whether it has AVX-512).
"""
import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGE = re.compile(r"^quickstart: (.+?) took (\d+) s$", re.M)


def machine():
    """'<CPU model>, <n> cores, AVX-512: yes/no' from /proc/cpuinfo."""
    with open("/proc/cpuinfo", encoding="utf-8") as stream:
        info = stream.read()
    model = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    avx512 = "avx512f" in re.search(r"^flags\s*:\s*(.*)$", info, re.M).group(1).split()
    return f"{model.group(1) if model else '?'}, {os.cpu_count()} cores, AVX-512: {'yes' if avx512 else 'no'}"


def run_once(out, extra):
    load_before = os.getloadavg()[0]
    start = time.time()
    run = subprocess.run(["bash", os.path.join(ROOT, "scripts", "quickstart.sh"), *extra], cwd=ROOT,
                         env={**os.environ, "OUT": out}, capture_output=True, text=True)
    seconds = time.time() - start
    if run.returncode != 0:
        sys.exit(f"quickstart failed ({run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    stages = dict(STAGE.findall(run.stdout))
    top1 = re.search(r"'Top1-Acc': ([0-9.]+)", run.stdout).group(1)
    onnx = re.search(r"^accuracy: ([0-9.]+)$", run.stdout, re.M).group(1)  # the float32 ONNX file's
    evals = re.findall(r"^eval: epoch (\d+) Top1-Acc ([0-9.]+) .*?\(([0-9.]+) s\)", run.stdout, re.M)
    with open(os.path.join(out, "ckpt", "ckpt_0", "metrics.csv"), newline="", encoding="utf-8") as stream:
        epochs = list(csv.DictReader(stream))
    stage_text = ", ".join(f"{name} {value} s" for name, value in stages.items())
    epoch_text = "; ".join(f"epoch {row['epoch']}: {float(row['epoch_seconds']):.0f} s at "
                           f"{float(row['images_per_second']):.1f} img/s, top-1 {row['top1'] or '-'}"
                           for row in epochs)
    eval_text = ", ".join(f"{float(sec):.0f} s" for _, _, sec in evals) or "-"
    print(f"{seconds:.0f} s in all ({stage_text}); eval.py top-1 {float(top1):.4f}, ONNX {float(onnx):.4f}; "
          f"training: {epoch_text}; evaluations during training {eval_text}; load average {load_before:.1f} -> "
          f"{os.getloadavg()[0]:.1f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--out", default=None, help="quickstart output folder (default: a temporary folder)")
    parser.add_argument("extra", nargs="*", help="train.py settings after --")
    args = parser.parse_args()
    print(f"machine: {machine()}; quickstart settings added: {' '.join(args.extra) or 'none'}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_quickstart_") as tmp:
        for _ in range(args.runs):
            run_once(args.out or tmp, args.extra)


if __name__ == "__main__":
    main()
