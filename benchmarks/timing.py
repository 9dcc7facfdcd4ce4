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


def alternating_rates(runs, rounds, calls):
    """{name: [images/s of each round]} for `runs` = [(name, run, images per call)]: two warm-up calls of each,
    then `rounds` rounds in which each run in turn is called `calls` times, so that a change in the machine's
    load touches all of them alike."""
    for _, run, _ in runs:
        for _ in range(2):
            run()
    rates = {name: [] for name, _, _ in runs}
    for _ in range(rounds):
        for name, run, images in runs:
            start = time.perf_counter()
            for _ in range(calls):
                run()
            rates[name].append(images * calls / (time.perf_counter() - start))
    return rates
