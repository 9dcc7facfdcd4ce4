"""How a program stops early, in one line on stderr: a user's mistake (`UserError`, exit status 2) and a stop
on Ctrl-C (SIGINT) or SIGTERM (exit status 128 + the signal number); `entry_point` reports both for an entry point.

    if __name__ == "__main__":        # first lines of an entry point, before any import that starts a thread
        from src.runtime.stops import catch_signals
        catch_signals()

    @entry_point                      # train, eval, export, eval_onnx, predict (the tools: report_user_errors)
    def main(): ...

A signal is recorded, never acted on while the entry point's imports run (an exception inside `import
mindspore` breaks the import and then the interpreter's exit) nor inside a checkpoint save (`critical()`): the
first stops at the start of `main` (`report_interruptions`), the second at the end of the save. Inside
`safe_points()` (training, evaluation) the first signal stops the run at the next safe point, where a callback
calls `check()`; a second signal stops at once. Elsewhere a signal stops at once. Stopping raises `Interrupted`;
`report_interruptions` turns it into one line on stderr and exit status 128 + signal number (130 for SIGINT, 143
for SIGTERM). A deferred signal is acknowledged at once on stdout. Inside `exit_at_once()` (MindSpore compiling
a graph, which would turn the exception into pages of errors and a graph dump in the working folder) a stop
ends the process right there with the same line.

MindSpore's runtime replaces the SIGINT handler with one that sends SIGTERM to the process itself, so a Ctrl-C
arrives as a SIGTERM. To tell the two apart, SIGTERM is blocked in every thread and taken by a watcher thread
with sigwaitinfo, which sees the sender: the process itself means Ctrl-C. Threads inherit the blocked signal
only if they start after `catch_signals()`; called later (another thread already running, e.g. an entry point
run inside a test process) it changes nothing and the default handling stays.
"""
import _thread
import contextlib
import functools
import os
import signal
import sys
import threading

USAGE_EXIT_CODE = 2


class UserError(Exception):
    """A mistake the user can fix (bad path, key, value or file). Reported in one line, no traceback."""


def report_user_errors(main):
    """Decorate an entry point: a UserError prints 'error: <message>' to stderr and exits with code 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(USAGE_EXIT_CODE)

    return wrapper


NAMES = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}


class Interrupted(BaseException):
    """A stop requested by a signal (a BaseException, so that no `except Exception` swallows it)."""

    def __init__(self, signum, detail=""):
        super().__init__(signum)
        self.signum = signum
        self.detail = detail

    @property
    def exit_code(self):
        return 128 + self.signum


class _State:
    active = False
    quiet = False       # record signals, act on none: the entry point's imports run, or a stop is reported
    pending = None      # the first signal received
    count = 0
    safe_points = 0     # depth of safe_points() blocks
    critical = 0        # depth of critical() blocks
    at_once = []        # (detail, files to remove) of the exit_at_once() blocks, innermost last


def _note(text):
    """A progress line on stdout, written past Python's buffer (safe inside a signal handler)."""
    os.write(1, f"{os.path.basename(sys.argv[0])}: {text}\n".encode())


def _stop_line(signum, detail):
    detail = f". {detail}" if detail else ""
    return f"{os.path.basename(sys.argv[0])}: stopped by {NAMES[signum]}{detail}"


def _exit_now(signum):
    """End the process at once: the stop line of the innermost exit_at_once block, its files removed."""
    detail, remove = _State.at_once[-1]
    for path in remove:
        with contextlib.suppress(OSError):
            os.remove(path)
    sys.stdout.flush()
    os.write(2, f"{_stop_line(signum, detail)}\n".encode())
    os._exit(128 + signum)  # pylint: disable=protected-access


def _on_signal(signum, _frame):
    _State.count += 1
    if _State.pending is None:
        _State.pending = signum
    if _State.quiet:
        return
    if _State.critical:
        _note(f"{NAMES[signum]} received: stopping once the file being written is complete")
    elif _State.safe_points and _State.count == 1:
        _note(f"{NAMES[signum]} received: stopping at the next safe point, after the current step (send it again "
              "to stop at once)")
    elif _State.at_once:
        _exit_now(_State.pending)
    else:
        raise Interrupted(_State.pending)


def _watch_sigterm():
    """Receive every SIGTERM; one the process sent itself is MindSpore's translation of a SIGINT."""
    while True:
        info = signal.sigwaitinfo({signal.SIGTERM})
        _thread.interrupt_main(signal.SIGINT if info.si_pid == os.getpid() else signal.SIGTERM)


def _release_in_child():
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    for signum in NAMES:
        signal.signal(signum, signal.SIG_DFL)


def catch_signals():
    """Take over SIGINT and SIGTERM for this process if no other thread runs yet; return whether it did."""
    if _State.active:
        return True
    if threading.active_count() > 1 or len(os.listdir(f"/proc/{os.getpid()}/task")) > 1:
        return False
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    os.register_at_fork(after_in_child=_release_in_child)
    for signum in NAMES:
        signal.signal(signum, _on_signal)
    threading.Thread(target=_watch_sigterm, name="sigterm-watcher", daemon=True).start()
    _State.active = _State.quiet = True
    return True


def pending():
    """The signal number of a requested stop, or None."""
    return _State.pending


def check():
    """At a safe point: raise Interrupted if a stop was requested."""
    if _State.pending is not None:
        raise Interrupted(_State.pending)


@contextlib.contextmanager
def safe_points():
    """Within the block the first signal waits for the next `check()`."""
    _State.safe_points += 1
    try:
        yield
    finally:
        _State.safe_points -= 1


@contextlib.contextmanager
def critical():
    """Within the block (a file being written) every signal waits; a repeated one stops right after it."""
    _State.critical += 1
    try:
        yield
    finally:
        _State.critical -= 1
    if not _State.critical and _State.pending is not None and (_State.count > 1 or not _State.safe_points):
        raise Interrupted(_State.pending)


@contextlib.contextmanager
def exit_at_once(detail="", remove=()):
    """Within the block (MindSpore compiling a graph) a stop does not raise: it removes the files `remove`,
    prints the stop line with `detail` and ends the process with 128 + the signal number."""
    _State.at_once.append((detail, tuple(remove)))
    try:
        yield
    finally:
        _State.at_once.pop()


def entry_point(main):
    """The decorator of the five entry points' main (train, eval, export, eval_onnx, predict), which call
    catch_signals before their imports: a UserError is one line with exit code 2 (report_user_errors), a stop
    by SIGINT/SIGTERM one line with 128 + the signal number (report_interruptions)."""
    return report_user_errors(report_interruptions(main))


def report_interruptions(main):
    """Decorate an entry point: a signal received during its imports stops it here; Interrupted prints
    '<program>: stopped by <signal>[. detail]' on stderr and exits with 128 + the signal number."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            _State.quiet = False
            check()
            return main(*args, **kwargs)
        except Interrupted as stop:
            _State.quiet = True
            print(_stop_line(stop.signum, stop.detail), file=sys.stderr, flush=True)
            sys.exit(stop.exit_code)

    return wrapper
