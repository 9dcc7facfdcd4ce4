"""`enable_profiling`: MindSpore's profiler records a few training steps into a folder beside the checkpoints."""
import os

from mindspore.train import Callback

PROFILER_DIR = "profiler"
SKIPPED_STEPS = 1
"""The first step is not recorded: it holds the graph compile."""
WARMUP_STEPS = 1
"""Then one step runs with the profiler on but is not recorded (the profiler's own start-up)."""


class ProfilingCallback(Callback):
    """Records `steps` training steps of this process after SKIPPED_STEPS + WARMUP_STEPS steps with
    mindspore.profiler.profile and writes the analysed data (ASCEND_PROFILER_OUTPUT/trace_view.json, the
    per-operator FRAMEWORK/ tables, ...) to `<directory>/<host>_<pid>_<time>_ascend_ms/`; then stops profiling.
    A run that ends earlier is analysed up to its last step."""

    def __init__(self, directory, steps, device_target, printer=print):
        super().__init__()
        self.directory = directory
        self.steps = steps
        self.device_target = device_target
        self.print = printer
        self.profiler = None
        self.finished = False

    def _activities(self):
        from mindspore.profiler import ProfilerActivity
        device = {"Ascend": [ProfilerActivity.NPU], "GPU": [ProfilerActivity.GPU]}.get(self.device_target, [])
        return [ProfilerActivity.CPU] + device

    def on_train_begin(self, run_context):
        if self.profiler is not None or self.finished:
            return  # a resumed run calls Model.train twice: profile only the first call
        from mindspore.profiler import profile, schedule, tensorboard_trace_handler
        os.makedirs(self.directory, exist_ok=True)
        self.profiler = profile(activities=self._activities(),
                                schedule=schedule(wait=SKIPPED_STEPS, warmup=WARMUP_STEPS, active=self.steps,
                                                  repeat=1),
                                on_trace_ready=tensorboard_trace_handler(self.directory))
        first = SKIPPED_STEPS + WARMUP_STEPS + 1
        self.print(f"profiler: recording steps {first}-{first + self.steps - 1} of this run into {self.directory}",
                   flush=True)

    def on_train_step_end(self, run_context):
        if self.profiler is not None:
            self.profiler.step()

    def on_train_end(self, run_context):
        if self.profiler is not None:
            self.profiler.stop()
            self.profiler = None
            self.finished = True
