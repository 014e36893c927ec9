"""The unmodified ``openstack`` CLI for the tests, without its import cost on every call.

The console script ``openstack`` is ``sys.exit(openstackclient.shell.main())``. Importing
the client and finding its commands takes 1 to 1.5 seconds of CPU on this machine, and
the suites run the CLI hundreds of times. ``run`` asks a server process, which imported
the client and loaded every command once, to fork a child that runs that same ``main``
with the call's arguments, environment and output files: what the
client sends and prints is the client's own. ``NIMBUS_CLI_EXEC=1`` runs the console
script instead, a process per call, as a user's shell does; so does ``run`` if the
server cannot start.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: The console script, beside this interpreter.
EXECUTABLE = Path(sys.executable).parent / "openstack"

#: The fork server's code, run as ``python -c SERVER <socket path> <console script>``.
SERVER = r"""
import json, os, random, selectors, socket, sys

address, executable = sys.argv[1], sys.argv[2]
sys.argv = [executable]  # before the import: cliff names the program from it then

import openstackclient.shell as shell

# Load every command's module once (what `openstack --help` lists), here rather than
# in each child; the help text goes nowhere.
with open(os.devnull, "w") as sink:
    out, err, sys.stdout, sys.stderr = sys.stdout, sys.stderr, sink, sink
    try:
        shell.main(["--help"])
    except SystemExit:
        pass
    finally:
        sys.stdout, sys.stderr = out, err

def child(request):
    fds = (
        os.open(os.devnull, os.O_RDONLY),
        os.open(request["stdout"], os.O_WRONLY | os.O_TRUNC),
        os.open(request["stderr"], os.O_WRONLY | os.O_TRUNC),
    )
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.environ.clear()
    os.environ.update(request["env"])
    random.seed()
    sys.argv = [executable, *request["args"]]
    try:
        code = shell.main(request["args"])
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

listener = socket.socket(socket.AF_UNIX)
listener.bind(address)
listener.listen(16)
print("ready", flush=True)
selector = selectors.DefaultSelector()
selector.register(listener, selectors.EVENT_READ)
running = {}
parent = os.getppid()
while os.getppid() == parent:  # the test process ended (it may skip its atexit hooks)
    for _key, _ in selector.select(timeout=0.005):
        conn, _ = listener.accept()
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        request = json.loads(data)
        pid = os.fork()
        if pid == 0:
            try:
                listener.close()
                conn.close()
                child(request)
            finally:
                os._exit(70)
        conn.sendall(f"{pid}\n".encode())
        running[pid] = conn
    while running:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        conn = running.pop(pid, None)
        if conn is not None:
            try:
                conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
            except OSError:
                pass
            conn.close()
os.unlink(address)
os.rmdir(os.path.dirname(address))
"""


class _Server:
    """The fork server of this test process, started on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[str] | None = None
        self.path = ""
        self.failed = False

    def address(self) -> str | None:
        with self.lock:
            if self.proc is not None and self.proc.poll() is None:
                return self.path
            if self.failed:
                return None
            folder = tempfile.mkdtemp(prefix="oscli-")
            self.path = os.path.join(folder, "socket")
            self.proc = subprocess.Popen(
                [sys.executable, "-c", SERVER, self.path, str(EXECUTABLE)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            atexit.register(self.stop)
            if self.proc.stdout is None or self.proc.stdout.readline().strip() != "ready":
                self.failed = True
                self.stop()
                return None
            return self.path

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)


_server = _Server()


def run(
    args: list[str],
    env: dict[str, str],
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    """``openstack <args>`` with ``env``, as ``subprocess.run(..., capture_output=True,
    text=True, timeout=timeout)`` would return it."""
    address = None if os.environ.get("NIMBUS_CLI_EXEC") == "1" else _server.address()
    if address is None:
        return subprocess.run(
            [str(EXECUTABLE), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    with tempfile.TemporaryDirectory(prefix="oscli-call-") as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        out.touch()
        err.touch()
        request = {
            "args": list(args),
            "env": dict(env),
            "stdout": str(out),
            "stderr": str(err),
        }
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(address)
            conn.sendall(json.dumps(request).encode() + b"\n")
            conn.settimeout(timeout)
            reader = conn.makefile("r")
            pid = int(reader.readline())
            try:
                conn.settimeout(max(0.1, deadline - time.monotonic()))
                said = reader.readline()
            except TimeoutError as exc:
                os.kill(pid, 9)
                raise subprocess.TimeoutExpired(["openstack", *args], timeout) from exc
            if not said:
                raise RuntimeError("the openstack CLI's fork server ended during a call")
            code = int(said)
        return subprocess.CompletedProcess(
            ["openstack", *args],
            code,
            out.read_text(errors="replace"),
            err.read_text(errors="replace"),
        )
