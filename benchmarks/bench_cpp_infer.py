"""Per-image inference latency of the C++ app (OpenCV DNN) against onnxruntime from Python, on the same
ONNX file and the same preprocessed images (batch 1).

    python benchmarks/bench_cpp_infer.py                      # 299x299, 1000 classes, 20 images
    python benchmarks/bench_cpp_infer.py --size 75 --num_classes 10 --images 10

Exports a randomly initialised Inception-v4 with export.py (latency does not depend on the weights),
writes JPEG images of 500x375 pixels, then alternates rounds: run ascend310_infer/out/main on them and
read its time_Result/test_perform_static.txt (mean time of the inference calls, the first one included,
as the original app reports it), then time onnxruntime's session.run on the app's preprocessed inputs.
The median and the best round are reported (the best is least disturbed by other load on the machine).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
APP = os.path.join(ROOT, "ascend310_infer", "out", "main")
CPU_CONFIG = os.path.join(ROOT, "default_config_cpu.yaml")


def check(result, what):
    if result.returncode != 0:
        sys.exit(f"{what} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def export_model(folder, size, num_classes):
    """Export a randomly initialised network to <folder>/bench.onnx with export.py."""
    from src.runtime.context import apply_cpu_defaults
    apply_cpu_defaults("CPU")
    from src.checkpoint import save_checkpoint
    from src.inceptionv4 import Inceptionv4
    checkpoint = os.path.join(folder, "random.ckpt")
    save_checkpoint(Inceptionv4(classes=num_classes, is_train=False), checkpoint)
    check(subprocess.run([sys.executable, os.path.join(ROOT, "export.py"), "--config_path", CPU_CONFIG,
                          "--ckpt_file", checkpoint, "--device_target", "CPU", "--file_format", "ONNX",
                          "--num_classes", str(num_classes), "--height", str(size), "--width", str(size),
                          "--export_batch_size", "1", "--file_name", os.path.join(folder, "bench")],
                         capture_output=True, text=True), "export.py")
    return os.path.join(folder, "bench.onnx")


def write_images(folder, count):
    rng = np.random.default_rng(0)
    os.makedirs(folder)
    for index in range(count):
        coarse = rng.random((50, 66, 3)) * 255
        image = Image.fromarray(coarse.astype(np.uint8)).resize((500, 375), Image.BICUBIC)
        image.save(os.path.join(folder, f"image_{index:03d}.JPEG"), quality=90)


def time_onnxruntime(model, inputs):
    """Seconds of every session.run on one image, in order (the first call included)."""
    import onnxruntime as ort
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    times = []
    for tensor in inputs:
        start = time.perf_counter()
        session.run(None, {name: tensor[None]})
        times.append(time.perf_counter() - start)
    return times


def run_app(work, model, images, round_index):
    """(mean inference ms from time_Result, wall ms per image) of one app run over `images`."""
    cwd = os.path.join(work, f"run_{round_index}")
    os.makedirs(cwd)
    start = time.perf_counter()
    check(subprocess.run([APP, f"--model_path={model}", f"--dataset_path={images}", "--save_inputs"],
                         cwd=cwd, capture_output=True, text=True), "the app")
    wall = 1000 * (time.perf_counter() - start) / len(os.listdir(images))
    report = open(os.path.join(cwd, "time_Result", "test_perform_static.txt")).read()
    return float(re.search(r"average time: ([0-9.e+-]+) ms", report).group(1)), wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=299, help="input height and width")
    parser.add_argument("--num_classes", type=int, default=1000)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="alternating app / onnxruntime rounds")
    args = parser.parse_args()
    if args.images < 2:
        parser.error("--images must be at least 2")
    check(subprocess.run(["bash", os.path.join(ROOT, "ascend310_infer", "build.sh")], capture_output=True,
                         text=True), "building the app")
    app_ms, app_wall, ort_ms, ort_warm_ms = [], [], [], []
    with tempfile.TemporaryDirectory() as work:
        model = export_model(work, args.size, args.num_classes)
        images = os.path.join(work, "images")
        write_images(images, args.images)
        for round_index in range(args.rounds):
            inference, wall = run_app(work, model, images, round_index)
            app_ms.append(inference)
            app_wall.append(wall)
            inputs_dir = os.path.join(work, f"run_{round_index}", "preprocess_Result")
            shape = (3, args.size, args.size)
            inputs = [np.fromfile(os.path.join(inputs_dir, name), np.float32).reshape(shape)
                      for name in sorted(os.listdir(inputs_dir))]
            times = time_onnxruntime(model, inputs)
            ort_ms.append(1000 * statistics.mean(times))
            ort_warm_ms.append(1000 * statistics.mean(times[1:]))
    import onnxruntime
    print(f"Inception-v4 {args.size}x{args.size}, {args.num_classes} classes, batch 1, {args.images} images, "
          f"{os.cpu_count()} CPU cores, {args.rounds} alternating rounds (median / best round)")
    print("| runtime | inference ms/image, first call included | without the first call |")
    print("| --- | --- | --- |")
    print(f"| C++ app, OpenCV DNN (time_Result) | {statistics.median(app_ms):.0f} / {min(app_ms):.0f} | - |")
    print(f"| onnxruntime {onnxruntime.__version__} from Python | {statistics.median(ort_ms):.0f} / {min(ort_ms):.0f} "
          f"| {statistics.median(ort_warm_ms):.0f} / {min(ort_warm_ms):.0f} |")
    print(f"C++ app wall time per image (model loading, decoding, preprocessing and file writing included): "
          f"{statistics.median(app_wall):.0f} / {min(app_wall):.0f} ms")


if __name__ == "__main__":
    main()
