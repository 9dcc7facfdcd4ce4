"""Backend set-up: the oneDNN cap on the CPU, and a clear error for a backend this MindSpore lacks."""
import os
import subprocess
import sys

from src.model_utils.config import PROJECT_ROOT

PROBE = ("import os, sys; from src.runtime.context import apply_cpu_defaults; apply_cpu_defaults(sys.argv[1]); "
         "print(os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset'))")


def _probe(target, **env):
    environ = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", PROBE, target], cwd=PROJECT_ROOT, env=environ,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_cpu_target_caps_onednn_isa():
    assert _probe("CPU") == "AVX2"


def test_other_targets_leave_onednn_alone():
    assert _probe("GPU") == "unset"


def test_users_own_setting_wins():
    assert _probe("CPU", ONEDNN_MAX_CPU_ISA="ALL") == "ALL"


def test_unavailable_backend_is_one_line_exit_2(tmp_path):
    run = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, "export.py"), "--config_path",
                          os.path.join(PROJECT_ROOT, "default_config_gpu.yaml"), "--ckpt_file", "x.ckpt"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(
        "error: device_target GPU is not usable in this MindSpore installation")

