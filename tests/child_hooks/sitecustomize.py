"""Test-only hooks for the pipeline's scripts run as subprocesses: put this folder on PYTHONPATH.

Python imports `sitecustomize` at start-up, before the script, so the scripts and the tagger package run
exactly as a user runs them; no production code knows about these hooks. Each one is off unless its
variable is set (tests/conftest.py `child_hooks` builds the environment):

TEST_KILL_AT=before:N or after:N   SIGKILL this process just before, or just after, its N-th rename
                                   (os.replace / os.rename: how every output of the pipeline is put in place).
                                   Counting renames, not seconds, makes the kill point the same on every run.
TEST_RENAME_LOG=path               append the destination of every completed rename, one per line.
TEST_NETWORK_LOG=path              append every network audit event as a JSON line, then refuse the operation
                                   as an unreachable network would, so the test is offline on any machine.
TEST_THREADS_LOG=path              at exit, write TensorFlow's intra- and inter-op thread counts as JSON [intra, inter]
                                   (what its thread pools were made with), when TensorFlow was imported.
TEST_MISSING_PACKAGES=a,b          the packages a and b look uninstalled, as on a machine without them: importing
                                   them fails and importlib.util.find_spec gives None (a None in sys.modules).
"""

import json
import os
import signal
import sys

_kill_at = os.environ.get("TEST_KILL_AT")
_rename_log = os.environ.get("TEST_RENAME_LOG")
_network_log = os.environ.get("TEST_NETWORK_LOG")
_missing_packages = os.environ.get("TEST_MISSING_PACKAGES")
_threads_log = os.environ.get("TEST_THREADS_LOG")

for _package in filter(None, (_missing_packages or "").split(",")):
    sys.modules[_package] = None  # how Python marks a module that must not be imported


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as log:  # opened per line: a killed process loses nothing logged
        log.write(line + "\n")


if _kill_at or _rename_log:
    _when, _, _count = (_kill_at or "never:0").partition(":")
    _kill_number = int(_count)
    _renames_done = 0

    def _watched(rename):
        def watched_rename(source, destination, *args, **kwargs):
            global _renames_done
            number = _renames_done + 1
            if _when == "before" and number == _kill_number:
                os.kill(os.getpid(), signal.SIGKILL)
            rename(source, destination, *args, **kwargs)
            _renames_done = number
            if _rename_log:
                _append(_rename_log, os.fspath(destination))
            if _when == "after" and number == _kill_number:
                os.kill(os.getpid(), signal.SIGKILL)

        return watched_rename

    os.replace = _watched(os.replace)
    os.rename = _watched(os.rename)


if _network_log:
    import errno

    _NETWORK_EVENTS = frozenset({
        "socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.bind",
        "socket.sendto", "socket.sendmsg", "urllib.Request", "http.client.connect",
    })
    _REFUSED = frozenset({"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
                          "socket.sendto", "socket.sendmsg", "http.client.connect"})

    def _network_audit(event, args):
        if event not in _NETWORK_EVENTS:
            return
        if event == "urllib.Request":
            detail = [args[0]]  # the URL
        elif event in ("socket.connect", "socket.bind", "socket.sendto"):
            detail = [repr(args[1])]  # the address
        elif event == "http.client.connect":
            detail = [args[1], args[2]]  # host, port
        else:
            detail = list(args[:2])  # host (and port)
        _append(_network_log, json.dumps([event, *detail], default=repr))
        if event in _REFUSED:
            raise OSError(errno.ENETUNREACH, "network refused by the test's audit hook")

    sys.addaudithook(_network_audit)


if _threads_log:
    import atexit

    def _log_threads():
        tensorflow = sys.modules.get("tensorflow")
        if tensorflow is not None:
            threading = tensorflow.config.threading
            _append(_threads_log, json.dumps([threading.get_intra_op_parallelism_threads(),
                                              threading.get_inter_op_parallelism_threads()]))

    atexit.register(_log_threads)
