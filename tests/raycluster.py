"""A real Ray cluster on this machine, for the Ray executor's tests and benchmark: a head and a
second node started with `ray start` on loopback, each in the processes Ray starts for it, all of
which (and only which) :meth:`Cluster.stop` ends, by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from tests.runhelpers import free_port

RAY = str(Path(sys.executable).with_name("ray"))


class Cluster:
    """A head (1 CPU) and a second node (2 CPUs) on this machine, and every process they started."""

    def __init__(self) -> None:
        self.temp = tempfile.mkdtemp(prefix="rr", dir="/tmp")  # short: Ray's socket paths must fit
        self.port = free_port()
        self.node_port = free_port()
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        common = ["--disable-usage-stats", "--include-dashboard=false"]
        self._start([RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={self.port}", "--num-cpus=1",
                     f"--temp-dir={self.temp}", f"--ray-client-server-port={free_port()}", *common], env)  # fmt: skip
        self._start([RAY, "start", f"--address=127.0.0.1:{self.port}", "--node-ip-address=127.0.0.1",
                     "--num-cpus=2", f"--node-manager-port={self.node_port}", *common[:1]], env)  # fmt: skip
        self.address = f"127.0.0.1:{self.port}"
        raylet = self.second_raylet()
        self.second_id = next(a.split("=", 1)[1] for a in raylet.cmdline() if a.startswith("--node_id="))

    def _start(self, argv: list[str], env: dict[str, str]) -> None:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            self.stop()
            raise RuntimeError(f"{' '.join(argv[:3])} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")

    def processes(self) -> list[psutil.Process]:
        """Every process of this cluster: named by its temp dir or its head's port, and their children."""
        marks = (self.temp, f":{self.port} ", f":{self.port}\x00", f"--gcs-address=127.0.0.1:{self.port}")
        found: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter(["cmdline"]):
            line = "\x00".join(proc.info["cmdline"] or []) + "\x00"
            if proc.pid != os.getpid() and any(m in line or m.replace(" ", "\x00") in line for m in marks):
                found[proc.pid] = proc
                try:
                    found.update({c.pid: c for c in proc.children(recursive=True)})
                except psutil.Error:
                    pass
        return list(found.values())

    def second_raylet(self) -> psutil.Process:
        for proc in self.processes():
            try:
                if f"--node_manager_port={self.node_port}" in proc.cmdline():
                    return proc
            except psutil.Error:
                continue
        raise AssertionError("the second node's raylet is not running")

    def kill_second_node(self) -> None:
        """SIGKILL the second node's raylet and everything it started (its workers)."""
        raylet = self.second_raylet()
        for proc in [*raylet.children(recursive=True), raylet]:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass

    def stop(self) -> None:
        procs = self.processes()
        for proc in procs:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        psutil.wait_procs(procs, timeout=10)
