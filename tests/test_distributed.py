"""Distributed data-parallel training: two CPU workers started by msrun train in lockstep on disjoint halves
of the data; the Ascend (rank table) and GPU (mpirun) launchers are checked for their argument handling and
the exact commands they run (--dry-run), since that hardware is not here."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import mindspore as ms
import numpy as np
import pytest

from conftest import write_small_cifar
from src.inputs.files import CIFAR_TRAIN_DIR, read_cifar_file
from src.dataset import create_dataset
from src.model_utils.config import PROJECT_ROOT, get_config
from src.runtime.context import init_distributed, is_distributed, launcher_device_id
from src.runtime.stops import UserError

SCRIPTS = os.path.join(PROJECT_ROOT, "scripts")
ASCEND = os.path.join(SCRIPTS, "run_distribute_train_ascend.sh")
GPU = os.path.join(SCRIPTS, "run_distribute_train_gpu.sh")
MSRUN = os.path.join(SCRIPTS, "run_distribute_train_msrun.sh")
TRAIN = os.path.join(PROJECT_ROOT, "train.py")
PYTHON = sys.executable

SAMPLES = 32
"""Training images of the msrun runs: 16 per rank, 2 steps of batch 8 (4 steps if a rank read them all)."""
TINY = ["--ds_type", "cifar10", "--num_classes", "10", "--width", "75", "--height", "75", "--batch_size", "8",
        "--epoch_size", "1"]
CKPT = "inceptionv4-train-1_2.ckpt"
BN_STATISTICS = ("moving_mean", "moving_variance")
LAUNCHER_VARIABLES = ("RANK_SIZE", "MS_WORKER_NUM", "OMPI_COMM_WORLD_SIZE", "MS_ROLE", "DEVICE_ID",
                      "OMPI_COMM_WORLD_LOCAL_RANK", "RANK_ID", "RANK_TABLE_FILE", "DRY_RUN", "SERVER_ID",
                      "BIND_CORES", "HCCL_CONNECT_TIMEOUT", "LOCAL_WORKER_NUM", "NODE_RANK", "MASTER_ADDR",
                      "MASTER_PORT", "LOG_DIR", "CLUSTER_TIME_OUT")


def launcher_env(**extra):
    """The test's environment without launcher variables, with this venv first on PATH (python, msrun)."""
    env = {key: value for key, value in os.environ.items() if key not in LAUNCHER_VARIABLES}
    env["PATH"] = os.path.dirname(PYTHON) + os.pathsep + env.get("PATH", "")
    env["PYTHON"] = PYTHON
    env.update({key: str(value) for key, value in extra.items()})
    return env


def run_script(script, *args, cwd, timeout=120, **env):
    return subprocess.run(["bash", script, *map(str, args)], cwd=cwd, env=launcher_env(**env),
                          capture_output=True, text=True, timeout=timeout)


def commands(result):
    """The command lines of a dry run (its notes are shell comments)."""
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if not line.startswith("#")]


def assert_usage_error(result, message):
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ") and message in first
    assert "Usage: bash scripts/" in result.stderr
    assert "train.py" not in result.stdout


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------------------
# train.py's side: which launcher started it, which device it uses
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture
def clean_env(monkeypatch):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_single_process_is_not_distributed(clean_env):
    assert not is_distributed()
    assert init_distributed() == (0, 1)
    clean_env.setenv("DEVICE_ID", "5")  # a single-device run keeps the configured device
    assert launcher_device_id(3) == 3


@pytest.mark.parametrize("variables, device", [
    ({"RANK_SIZE": "8", "RANK_ID": "3", "DEVICE_ID": "3"}, 3),               # rank-table script
    ({"OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_LOCAL_RANK": "6"}, 6),   # mpirun
    ({"MS_WORKER_NUM": "8", "MS_ROLE": "MS_WORKER", "DEVICE_ID": "2"}, None),  # msrun: MindSpore assigns it
])
def test_each_launcher_gives_the_worker_its_device(clean_env, variables, device):
    for name, value in variables.items():
        clean_env.setenv(name, value)
    assert is_distributed()
    assert launcher_device_id(0) == device


def test_bad_launcher_variable_is_a_user_error(clean_env):
    clean_env.setenv("RANK_SIZE", "eight")
    with pytest.raises(UserError, match=r"RANK_SIZE='eight' must be an integer >= 1"):
        is_distributed()


def test_rank_size_without_a_launcher_fails_clearly(tmp_path):
    result = subprocess.run([PYTHON, TRAIN, "--config_path", os.path.join(PROJECT_ROOT, "default_config_cpu.yaml"),
                             "--dataset_path", str(tmp_path), *TINY], cwd=tmp_path, env=launcher_env(RANK_SIZE=2),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "error: distributed initialisation failed (RANK_SIZE=2)" in result.stderr
    assert "run_distribute_train_" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------------------
# Ascend: rank table
# ---------------------------------------------------------------------------------------------------------

def rank_table(path, servers, **top):
    """Write an HCCL rank table (version 1.0) with `servers` = [(server_id, device count), ...]."""
    server_list, rank = [], 0
    for server_id, count in servers:
        devices = []
        for device in range(count):
            devices.append({"device_id": str(device), "device_ip": f"192.168.{100 + device % 4}.{101 - device // 4}",
                            "rank_id": str(rank)})
            rank += 1
        server_list.append({"server_id": server_id, "device": devices, "host_nic_ip": "reserve"})
    table = {"version": "1.0", "server_count": str(len(servers)), "server_list": server_list, "status": "completed"}
    table.update(top)
    path.write_text(json.dumps(table, indent=1))
    return path


def core_binding(devices):
    """The taskset ranges the Ascend script must use: blocks of at least 2 cores when no affinity is set."""
    cores = len(os.sched_getaffinity(0))
    per_rank = cores // devices
    if cores != os.sysconf("SC_NPROCESSORS_CONF") or per_rank < 2:  # what nproc and nproc --all count
        return [[] for _ in range(devices)]
    return [["taskset", "-c", f"{i * per_rank}-{i * per_rank + per_rank - 1}"] for i in range(devices)]


def ascend_line(workdir, table, data, rank, device, rank_size, binding, extra=()):
    folder = workdir / f"train_parallel{rank}"
    words = ["env", f"RANK_TABLE_FILE={table}", f"RANK_SIZE={rank_size}", f"RANK_ID={rank}", f"DEVICE_ID={device}",
             "HCCL_CONNECT_TIMEOUT=600", *binding, PYTHON, TRAIN, "--config_path",
             os.path.join(PROJECT_ROOT, "default_config.yaml"), "--dataset_path", str(data), "--device_id",
             str(device), *extra]
    return f"mkdir -p {folder} && cd {folder} && {' '.join(words)} < /dev/null > log.txt 2>&1 &"


def test_ascend_dry_run_starts_one_process_per_device(tmp_path):
    table = rank_table(tmp_path / "hccl_8p.json", [("192.0.2.1", 8)])
    result = run_script(ASCEND, "--dry-run", "hccl_8p.json", ".", "--epoch_size", "2", cwd=tmp_path)
    binding = core_binding(8)
    assert commands(result) == [ascend_line(tmp_path, table, tmp_path, i, i, 8, binding[i], ["--epoch_size", "2"])
                                for i in range(8)]
    assert "# HCCL_CONNECT_TIMEOUT=600" in result.stdout
    for rank in range(8):
        assert f"log {tmp_path}/train_parallel{rank}/log.txt" in result.stdout
    assert not (tmp_path / "train_parallel0").exists()  # a dry run starts nothing
    # DRY_RUN=1 is the same as --dry-run; a user's HCCL_CONNECT_TIMEOUT is kept.
    again = run_script(ASCEND, "hccl_8p.json", ".", "--epoch_size", "2", cwd=tmp_path, DRY_RUN=1,
                       HCCL_CONNECT_TIMEOUT=900)
    assert commands(again) == [line.replace("HCCL_CONNECT_TIMEOUT=600", "HCCL_CONNECT_TIMEOUT=900")
                               for line in commands(result)]


def test_ascend_binds_cores_when_there_are_enough(tmp_path):
    table = rank_table(tmp_path / "hccl_1p.json", [("192.0.2.1", 1)])
    expected = [ascend_line(tmp_path, table, tmp_path, 0, 0, 1, core_binding(1)[0])]
    assert commands(run_script(ASCEND, "--dry-run", table, tmp_path, cwd=tmp_path)) == expected
    unbound = [ascend_line(tmp_path, table, tmp_path, 0, 0, 1, [])]
    assert commands(run_script(ASCEND, "--dry-run", table, tmp_path, cwd=tmp_path, BIND_CORES=0)) == unbound


def test_ascend_multi_server_table_starts_this_servers_ranks(tmp_path):
    table = rank_table(tmp_path / "hccl_4p.json", [("198.51.100.1", 2), ("198.51.100.2", 2)])
    result = run_script(ASCEND, "--dry-run", table, tmp_path, cwd=tmp_path, SERVER_ID="198.51.100.2")
    binding = core_binding(2)
    assert commands(result) == [ascend_line(tmp_path, table, tmp_path, 2 + i, i, 4, binding[i]) for i in range(2)]
    unknown = run_script(ASCEND, "--dry-run", table, tmp_path, cwd=tmp_path)
    assert unknown.returncode == 2
    assert "none of them matches this machine's addresses" in unknown.stderr and "set SERVER_ID" in unknown.stderr
    wrong = run_script(ASCEND, "--dry-run", table, tmp_path, cwd=tmp_path, SERVER_ID="198.51.100.3")
    assert wrong.returncode == 2 and "has no server '198.51.100.3' (SERVER_ID)" in wrong.stderr


def test_ascend_finds_this_server_by_its_address(tmp_path):
    addresses = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    if not addresses:
        pytest.skip("this machine reports no IP address")
    table = rank_table(tmp_path / "hccl_4p.json", [("198.51.100.1", 2), (addresses[0], 2)])
    binding = core_binding(2)
    assert commands(run_script(ASCEND, "--dry-run", table, tmp_path, cwd=tmp_path)) == [
        ascend_line(tmp_path, table, tmp_path, 2 + i, i, 4, binding[i]) for i in range(2)]


def _table_text(tmp_path, change):
    """A valid one-server 2-device table as a dict, changed by `change` (a function editing it)."""
    table = json.loads(rank_table(tmp_path / "base.json", [("192.0.2.1", 2)]).read_text())
    change(table)
    return json.dumps(table)


BAD_TABLES = {
    "not JSON": (lambda tmp: '{"server_list": [', "is not valid JSON"),
    "old format": (lambda tmp: _table_text(tmp, lambda t: t.pop("server_list")),
                   "the top level lacks 'server_list'; expected HCCL rank table version 1.0"),
    "no servers": (lambda tmp: _table_text(tmp, lambda t: t.update(server_list=[], server_count="0")),
                   "'server_list' is empty"),
    "no devices": (lambda tmp: _table_text(tmp, lambda t: t["server_list"][0].update(device=[])),
                   "server_list[0] (server 192.0.2.1) lists no devices"),
    "device without rank": (lambda tmp: _table_text(tmp, lambda t: t["server_list"][0]["device"][1].pop("rank_id")),
                            "server_list[0].device[1] lacks 'rank_id'"),
    "rank not a number": (lambda tmp: _table_text(
        tmp, lambda t: t["server_list"][0]["device"][1].update(rank_id="one")),
        "server_list[0].device[1].rank_id must be a whole number, got 'one'"),
    "repeated rank": (lambda tmp: _table_text(tmp, lambda t: t["server_list"][0]["device"][1].update(rank_id="0")),
                      "rank_id 0 appears more than once"),
    "rank gap": (lambda tmp: _table_text(tmp, lambda t: t["server_list"][0]["device"][1].update(rank_id="2")),
                 "rank ids [0, 2] are not 0..1"),
    "repeated device": (lambda tmp: _table_text(
        tmp, lambda t: t["server_list"][0]["device"][1].update(device_id="0")),
        "server 192.0.2.1 lists device_id 0 more than once"),
    "server count": (lambda tmp: _table_text(tmp, lambda t: t.update(server_count="2")),
                     "says server_count 2 but lists 1 servers"),
    "unfinished": (lambda tmp: _table_text(tmp, lambda t: t.update(status="initializing")),
                   "has status 'initializing', not 'completed'"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_ascend_rejects_a_bad_rank_table(tmp_path, case):
    text, message = BAD_TABLES[case]
    table = tmp_path / "hccl.json"
    table.write_text(text(tmp_path))
    result = run_script(ASCEND, "--dry-run", table, tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: rank table '{table}'")
    assert message in result.stderr
    assert "Traceback" not in result.stderr and "train.py" not in result.stdout


def test_ascend_argument_errors(tmp_path):
    table = rank_table(tmp_path / "hccl_2p.json", [("192.0.2.1", 2)])
    assert_usage_error(run_script(ASCEND, cwd=tmp_path), "expected 2 arguments before any --key value, got 0")
    assert_usage_error(run_script(ASCEND, table, cwd=tmp_path), "expected 2 arguments before any --key value, got 1")
    assert_usage_error(run_script(ASCEND, table, tmp_path, "extra", cwd=tmp_path), "got 3")
    assert_usage_error(run_script(ASCEND, table, tmp_path / "nowhere", cwd=tmp_path),
                       f"DATA_DIR '{tmp_path / 'nowhere'}' is not an existing folder")
    assert_usage_error(run_script(ASCEND, table, tmp_path, "--epoch_size", "1", "--dry-run", cwd=tmp_path),
                       "--dry-run must come first")
    missing = run_script(ASCEND, "--dry-run", tmp_path / "none.json", tmp_path, cwd=tmp_path)
    assert missing.returncode == 2
    assert f"error: rank table '{tmp_path / 'none.json'}' does not exist" in missing.stderr


def test_ascend_really_starts_the_processes_in_their_folders(tmp_path):
    """Without --dry-run the printed lines run: each rank starts in train_parallel<rank>/ and logs to log.txt
    there. On this CPU machine train.py then stops at the communication set-up, naming the launcher variables."""
    table = rank_table(tmp_path / "hccl_2p.json", [("192.0.2.1", 2)])
    result = run_script(ASCEND, table, tmp_path, "--device_target", "CPU", "--amp_level", "O0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    logs = [tmp_path / f"train_parallel{rank}" / "log.txt" for rank in range(2)]
    deadline = time.time() + 120
    while time.time() < deadline and not all(log.exists() and "error:" in log.read_text() for log in logs):
        time.sleep(1)
    for log in logs:
        assert "error: distributed initialisation failed (RANK_SIZE=2)" in log.read_text()


# ---------------------------------------------------------------------------------------------------------
# GPU: mpirun
# ---------------------------------------------------------------------------------------------------------

def gpu_line(workdir, data, device_num, extra=()):
    folder = workdir / "train_parallel"
    root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    words = ["mpirun", *root, "-n", str(device_num), "--output-filename", "log_output", "--merge-stderr-to-stdout",
             PYTHON, TRAIN, "--config_path", os.path.join(PROJECT_ROOT, "default_config_gpu.yaml"),
             "--dataset_path", str(data), *extra]
    return f"mkdir -p {folder} && cd {folder} && {' '.join(words)} < /dev/null > log.txt 2>&1 &"


def test_gpu_dry_run_is_one_mpirun(tmp_path):
    (tmp_path / "data").mkdir()
    assert commands(run_script(GPU, "--dry-run", "data", cwd=tmp_path)) == [gpu_line(tmp_path, tmp_path / "data", 8)]
    result = run_script(GPU, "--dry-run", "data", 4, "--lr_max", "0.2", cwd=tmp_path)
    assert commands(result) == [gpu_line(tmp_path, tmp_path / "data", 4, ["--lr_max", "0.2"])]
    assert f"per rank {tmp_path}/train_parallel/log_output/1/rank.<rank>/stdout" in result.stdout


def test_gpu_argument_errors(tmp_path):
    assert_usage_error(run_script(GPU, cwd=tmp_path), "expected 1 to 2 arguments before any --key value, got 0")
    assert_usage_error(run_script(GPU, tmp_path, 8, 1, cwd=tmp_path), "got 3")
    assert_usage_error(run_script(GPU, tmp_path, "eight", cwd=tmp_path),
                       "DEVICE_NUM must be a whole number of at least 1, got 'eight'")
    assert_usage_error(run_script(GPU, tmp_path, 0, cwd=tmp_path), "DEVICE_NUM must be a whole number of at least 1")
    assert_usage_error(run_script(GPU, tmp_path / "nowhere", cwd=tmp_path), "DATA_PATH")
    if shutil.which("mpirun") is None:
        result = run_script(GPU, tmp_path, 2, cwd=tmp_path)
        assert result.returncode == 2 and "error: 'mpirun' not found on PATH" in result.stderr
        assert not (tmp_path / "train_parallel").exists()


# ---------------------------------------------------------------------------------------------------------
# msrun
# ---------------------------------------------------------------------------------------------------------

def msrun_line(log_dir, config, data, workers, local=None, addr="127.0.0.1", port=8118, node_rank=None,
               timeout=600, extra=()):
    words = ["msrun", f"--worker_num={workers}", f"--local_worker_num={local or workers}", f"--master_addr={addr}",
             f"--master_port={port}"]
    words += [f"--node_rank={node_rank}"] if node_rank is not None else []
    words += [f"--log_dir={log_dir}", "--join=True", f"--cluster_time_out={timeout}", "--tail_worker_log=0",
              TRAIN, "--config_path", str(config), "--dataset_path", str(data), *extra]
    return " ".join(words)


def test_msrun_dry_run_single_and_multi_machine(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    config = os.path.join(PROJECT_ROOT, "default_config_cpu.yaml")
    result = run_script(MSRUN, "--dry-run", "data", 2, "CPU", "--epoch_size", "1", cwd=tmp_path)
    assert commands(result) == [msrun_line(tmp_path / "msrun_log", config, data, 2, extra=["--epoch_size", "1"])]
    assert f"logs in {tmp_path}/msrun_log/worker_<rank>.log" in result.stdout
    # Second of two 8-device machines; the config defaults to Ascend's.
    result = run_script(MSRUN, "--dry-run", data, 16, cwd=tmp_path, LOCAL_WORKER_NUM=8, NODE_RANK=1,
                        MASTER_ADDR="192.0.2.1", MASTER_PORT=9000, LOG_DIR="logs", CLUSTER_TIME_OUT=1200)
    assert commands(result) == [msrun_line(tmp_path / "logs", os.path.join(PROJECT_ROOT, "default_config.yaml"), data,
                                           16, 8, "192.0.2.1", 9000, 1, 1200)]
    own = tmp_path / "mine.yaml"
    shutil.copy(os.path.join(PROJECT_ROOT, "default_config_gpu.yaml"), own)
    assert commands(run_script(MSRUN, "--dry-run", data, 8, "mine.yaml", cwd=tmp_path)) == [
        msrun_line(tmp_path / "msrun_log", own, data, 8)]
    assert commands(run_script(MSRUN, "--dry-run", data, 8, "GPU", cwd=tmp_path)) == [
        msrun_line(tmp_path / "msrun_log", os.path.join(PROJECT_ROOT, "default_config_gpu.yaml"), data, 8)]


def test_msrun_command_uses_only_real_msrun_options(tmp_path):
    line = commands(run_script(MSRUN, "--dry-run", tmp_path, 16, cwd=tmp_path, NODE_RANK=0, LOCAL_WORKER_NUM=8))[0]
    used = set(re.findall(r"(--\w+)=", line.split(TRAIN)[0]))
    helped = subprocess.run(["msrun", "--help"], env=launcher_env(), capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0
    offered = set(re.findall(r"(--\w+)", helped.stdout))
    assert used and used <= offered, used - offered


def test_msrun_argument_errors(tmp_path):
    assert_usage_error(run_script(MSRUN, tmp_path, cwd=tmp_path), "expected 2 to 3 arguments before any --key value")
    assert_usage_error(run_script(MSRUN, tmp_path, 0, cwd=tmp_path), "WORKER_NUM must be a whole number of at least 1")
    assert_usage_error(run_script(MSRUN, tmp_path, 2, "TPU", cwd=tmp_path),
                       "CONFIG must be Ascend, GPU, CPU or an existing config file, got 'TPU'")
    assert_usage_error(run_script(MSRUN, tmp_path, 2, cwd=tmp_path, LOCAL_WORKER_NUM=4),
                       "LOCAL_WORKER_NUM (4) exceeds WORKER_NUM (2)")
    assert_usage_error(run_script(MSRUN, tmp_path, 2, cwd=tmp_path, MASTER_PORT=70000), "MASTER_PORT must be at most")
    assert_usage_error(run_script(MSRUN, tmp_path, 2, cwd=tmp_path, NODE_RANK="first"),
                       "NODE_RANK must be a whole number of at least 0, got 'first'")


def test_msrun_job_with_a_failing_worker_exits_non_zero(tmp_path):
    result = run_script(MSRUN, tmp_path, 2, "CPU", "--batch_size", "0", cwd=tmp_path, MASTER_PORT=free_port(),
                        CLUSTER_TIME_OUT=60)
    assert result.returncode != 0
    assert f"error: the distributed job failed (msrun exit status {result.returncode}): see the logs in " \
           f"{tmp_path}/msrun_log" in result.stderr
    # msrun stops the other worker as soon as one fails: at least one log names the problem.
    logs = [(tmp_path / "msrun_log" / f"worker_{rank}.log").read_text() for rank in range(2)]
    assert any("error: config key 'batch_size' on the command line is 0; it must be at least 1" in log for log in logs)


# ---------------------------------------------------------------------------------------------------------
# Two CPU workers with msrun
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_cifar(demo_data, tmp_path_factory):
    """The first SAMPLES records of the demo CIFAR-10 training file (real digits), as a CIFAR-10 folder."""
    return write_small_cifar(demo_data, tmp_path_factory.mktemp("small_cifar"), SAMPLES)


@pytest.fixture(scope="module")
def compile_cache(tmp_path_factory):
    """Both runs build the same graphs: MindSpore's compile cache lets the second skip most of the compile."""
    return tmp_path_factory.mktemp("compile_cache")


def train_with_msrun(workdir, data, cache, is_save_on_master):
    result = run_script(MSRUN, data, 2, "CPU", *TINY, "--ckpt_path", "ckpt", "--is_save_on_master",
                        str(is_save_on_master), cwd=workdir, timeout=900, MASTER_PORT=free_port(),
                        MS_COMPILER_CACHE_ENABLE=1, MS_COMPILER_CACHE_PATH=cache)
    logs = [workdir / "msrun_log" / f"worker_{rank}.log" for rank in range(2)]
    tails = "\n".join(log.read_text()[-3000:] for log in logs if log.exists())
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n{tails}"
    return [log.read_text() for log in logs]


@pytest.fixture(scope="module")
def every_rank_saves(tmp_path_factory, small_cifar, compile_cache):
    workdir = tmp_path_factory.mktemp("msrun_every_rank_saves")
    return workdir, train_with_msrun(workdir, small_cifar, compile_cache, False)


def shard_images(data, rank):
    """The raw images the training pipeline of `rank` (of 2) reads: create_dataset with train.py's arguments,
    read at its source (before the random augmentation)."""
    cfg = get_config(["--config_path", os.path.join(PROJECT_ROOT, "default_config_cpu.yaml"), *TINY])
    ms.set_seed(cfg.seed)
    source = create_dataset(cfg, str(data), True, rank_id=rank, group_size=2, shuffle=cfg.shuffle)
    while source.children:
        source = source.children[0]
    return [row["image"].tobytes() for row in source.create_dict_iterator(num_epochs=1, output_numpy=True)]


@pytest.mark.slow
def test_msrun_ranks_train_on_disjoint_halves_and_end_with_identical_weights(every_rank_saves, small_cifar):
    workdir, logs = every_rank_saves
    # Per-rank logs: each worker knew its rank and ran 2 steps of batch 8, i.e. half of the 32 images.
    assert (workdir / "msrun_log" / "scheduler.log").exists()
    losses = []
    for rank, log in enumerate(logs):
        assert f"train: 2 steps per epoch on rank {rank} of 2" in log
        assert "train: finished 2 steps" in log
        losses.append(re.search(r"epoch: 1 step: 2, loss is (\S+)", log).group(1))
    assert losses[0] != losses[1]  # each rank's own loss, on its own images

    # The halves are disjoint and together are the whole training file.
    halves = [shard_images(small_cifar, rank) for rank in range(2)]
    images, _ = read_cifar_file(str(small_cifar / CIFAR_TRAIN_DIR / "data_batch_1.bin"))
    every = {image.tobytes() for image in images}
    assert len(every) == SAMPLES
    assert [len(set(half)) for half in halves] == [SAMPLES // 2] * 2
    assert not set(halves[0]) & set(halves[1])
    assert set(halves[0]) | set(halves[1]) == every

    # All-reduced mean gradients: weights and optimizer state are bit-identical on both ranks. BatchNorm's
    # moving statistics are each rank's own (no cross-device BatchNorm, as in the original), so they differ.
    ckpts = [ms.load_checkpoint(str(workdir / "ckpt" / f"ckpt_{rank}" / CKPT)) for rank in range(2)]
    assert set(ckpts[0]) == set(ckpts[1])
    statistics = [name for name in ckpts[0] if name.endswith(BN_STATISTICS)]
    shared = [name for name in ckpts[0] if not name.endswith(BN_STATISTICS)]
    assert len(statistics) > 100 and len(shared) > 1000
    assert {"moment", "mean_square"} <= {name.split(".")[0] for name in shared}  # RMSProp's state
    for name in shared:
        if isinstance(ckpts[0][name], str):  # the metadata entry: class names, preprocessing, position, run id
            assert ckpts[0][name] == ckpts[1][name]
            continue
        first, second = ckpts[0][name].asnumpy(), ckpts[1][name].asnumpy()
        assert first.dtype == second.dtype and np.array_equal(first, second), name
    # Both ranks' folders and checkpoints name one run: rank 0's run id, shared by an AllReduce.
    from src.checkpoint import checkpoint_metadata
    run_ids = {checkpoint_metadata(ckpt)["training"]["run_id"] for ckpt in ckpts}
    assert len(run_ids) == 1 and run_ids == {
        json.loads((workdir / "ckpt" / f"ckpt_{rank}" / "train_run.json").read_text())["run_id"] for rank in range(2)}
    assert all(not np.array_equal(ckpts[0][name].asnumpy(), ckpts[1][name].asnumpy()) for name in statistics)


@pytest.mark.slow
def test_msrun_is_save_on_master_saves_on_rank_0_only(tmp_path, small_cifar, compile_cache, every_rank_saves):
    logs = train_with_msrun(tmp_path, small_cifar, compile_cache, True)
    assert all("train: finished 2 steps" in log for log in logs)
    assert os.listdir(tmp_path / "ckpt") == ["ckpt_0"]
    assert [name for name in os.listdir(tmp_path / "ckpt" / "ckpt_0") if name.endswith(".ckpt")] == [CKPT]
    assert "checkpoint: saved" in logs[0] and "checkpoint: saved" not in logs[1]
