"""Timing shared by the benchmarks."""
import statistics
import time


def time_predict(model, images, steps):
    """(seconds of the first `model.predict(images)`, which includes the graph compile; median seconds of the
    `steps` calls after it)."""
    start = time.perf_counter()
    model.predict(images).asnumpy()
    first = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.predict(images).asnumpy()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)
