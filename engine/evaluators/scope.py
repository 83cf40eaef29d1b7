"""The test run's own scope, as the harness's container gives it: network, names and CPUs.

The harness runs each evaluation in a container with its own network, ``/etc/hosts`` and the
spec's ``nano_cpus`` as a CFS quota. The local evaluator gives the test command the same, where the
host lets it (root, with util-linux's ``unshare`` and ``mount`` and iproute2's ``ip``):

- **Network.** A new network namespace with only loopback. A repository's stand-ins (standins.py)
  are served inside it on the names and ports its tests use (``http://httpbin.org`` on 80,
  ``https://httpbin.org`` on 443), and ``/etc/hosts``, bind-mounted in a private mount namespace,
  maps those names to 127.0.0.1. Tarpit addresses (``10.255.255.1``, which tests connect to so
  that the connection times out) are routed to loopback, where nothing answers: the connect times
  out as it does on the internet, instead of failing at once. Every other name fails to resolve.
- **Trust.** The stand-ins' TLS certificate comes from a CA made for them (trustme, once per
  cache). The CA is added to the bundle that ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE`` and
  ``CURL_CA_BUNDLE`` name in the scope, and that bundle is bind-mounted over the CA files clients
  read whatever those say (certifi's ``cacert.pem`` in the environment, requests' own in the
  checkout): ``Session.send`` verifies against ``requests.certs.where()``.
- **CPUs.** A spec with ``nano_cpus`` gets a CPU cgroup with that quota (cgroup v1, as docker
  sets it), shown as ``/sys/fs/cgroup/cpu`` inside the scope, as docker's cgroup namespace shows a
  container's own. pylint counts its CPUs there: on this host's root cgroup (``cpu.shares`` 1024)
  it counts one, and its tests that need two skip.

Nothing of it is visible outside the scope, and it ends with the test command: the supervisor
(:data:`SUPERVISOR`) stops the servers when the tests exit, and a timeout kills the whole process
group. A host without these tools runs the tests as before (stand-ins on a loopback port, the
host's network), and the evaluator logs a warning saying why, once per repository.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

#: The exit code of a scope that could not be set up (the tests never ran).
SCOPE_FAILED = 97
#: Where cgroup v1's CPU controller is mounted, and Ramp's folder of scopes in it.
CPU_CGROUP = Path("/sys/fs/cgroup/cpu")
CFS_PERIOD_US = 100_000

#: Runs inside ``unshare --net --mount`` with the host's Python (never the environment's), from
#: ``python -I -c``: set the scope up, start the servers, wait until they answer, run the tests,
#: stop the servers, and exit with the tests' code (SCOPE_FAILED when setting up failed).
SUPERVISOR = r"""
import json, os, signal, socket, subprocess, sys, time
plan = json.loads(sys.argv[1])
def fail(message):
    print("ramp scope: " + message, flush=True)
    sys.exit(FAILED)
def run(*argv):
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode:
        fail(" ".join(argv) + ": " + done.stdout.strip())
if plan["cgroup"]:
    with open(os.path.join(plan["cgroup"], "cgroup.procs"), "w") as fh:
        fh.write(str(os.getpid()))
    run("mount", "--bind", plan["cgroup"], plan["cgroup_root"])
run("ip", "link", "set", "lo", "up")
for address in plan["tarpits"]:
    run("ip", "route", "add", address + "/32", "dev", "lo")
if plan["hosts"]:
    run("mount", "--bind", plan["hosts"], "/etc/hosts")
for path in plan["trust"]:
    run("mount", "--bind", plan["bundle"], path)
servers = []
for server in plan["servers"]:
    servers.append(subprocess.Popen(server["argv"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=open(server["log"], "ab")))
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", server["port"]), timeout=1).close()
            break
        except OSError:
            if servers[-1].poll() is not None or time.monotonic() > deadline:
                fail("the " + server["name"] + " stand-in did not start (see " + server["log"] + ")")
            time.sleep(0.05)
tests = subprocess.Popen(sys.argv[2:])
signal.signal(signal.SIGTERM, lambda *_: tests.terminate())
code = tests.wait()
for server in servers:
    server.terminate()
for server in servers:
    try:
        server.wait(5)
    except subprocess.TimeoutExpired:
        server.kill()
sys.exit(code)
""".replace("FAILED", str(SCOPE_FAILED))


@dataclass
class Server:
    """A stand-in server to start inside the scope: its argv, the loopback port it answers on."""

    name: str
    argv: list[str]
    port: int


@dataclass
class ScopePlan:
    """What one test run's scope holds."""

    hosts: list[str] = field(default_factory=list)  # names that resolve to 127.0.0.1
    tarpits: list[str] = field(default_factory=list)  # addresses where a connect must time out
    servers: list[Server] = field(default_factory=list)
    ca_bundle: Path | None = None  # trusted by the clients in the scope
    #: CA files clients read whatever the variables say (certifi's, requests' own cacert.pem):
    #: the bundle is bind-mounted over each inside the scope.
    trust_files: list[Path] = field(default_factory=list)
    cpus: float = 0.0  # the spec's nano_cpus, in CPUs (0: no CPU cgroup)

    @property
    def empty(self) -> bool:
        return not (self.hosts or self.tarpits or self.servers or self.cpus)


@cache
def scope_problem() -> str | None:
    """Why this host cannot make a scope (None when it can), probed once per process."""
    if os.geteuid() != 0:
        return "tests run without their own network scope: that needs root (unshare, mount, ip)"
    missing = [tool for tool in ("unshare", "mount", "ip") if shutil.which(tool) is None]
    if missing:
        return (f"tests run without their own network scope: {', '.join(missing)} not found "
                "(apt-get install util-linux mount iproute2)")  # fmt: skip
    probe = subprocess.run(
        ["unshare", "--net", "--mount", "ip", "link", "set", "lo", "up"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30,
    )  # fmt: skip
    if probe.returncode != 0:
        return f"tests run without their own network scope: unshare --net --mount failed: {probe.stdout.strip()[-200:]}"
    return None


def scope_failure(output: str) -> str | None:
    """The supervisor's own failure line in a test run's output, if it failed to set up."""
    lines = [line for line in output.splitlines() if line.startswith("ramp scope: ")]
    return lines[-1].removeprefix("ramp scope: ") if lines else None


def cgroup_problem() -> str | None:
    """Why a spec's nano_cpus cannot be given here (None when it can)."""
    if not (CPU_CGROUP / "cpu.cfs_quota_us").is_file():
        return f"no cgroup v1 CPU controller at {CPU_CGROUP}"
    if not os.access(CPU_CGROUP, os.W_OK):
        return f"{CPU_CGROUP} is not writable"
    return None


class Scope:
    """One test run's scope: the argv prefix that enters it, and what to remove afterwards."""

    def __init__(self, plan: ScopePlan, scratch: Path):
        self.plan = plan
        self.scratch = scratch
        self.cgroup: Path | None = None

    def enter(self) -> tuple[list[str], dict[str, str]]:
        """Make the scope's files (hosts, cgroup); return the argv prefix and the variables to add."""
        plan = self.plan
        self.scratch.mkdir(parents=True, exist_ok=True)
        hosts = None
        if plan.hosts:
            hosts = self.scratch / "hosts"
            hosts.write_text("127.0.0.1 localhost\n::1 localhost\n" + "".join(f"127.0.0.1 {h}\n" for h in plan.hosts))
        if plan.cpus and cgroup_problem() is None:
            self.cgroup = make_cgroup(plan.cpus)
        supervisor_plan = {
            "cgroup": str(self.cgroup) if self.cgroup else None,
            "cgroup_root": str(CPU_CGROUP),
            "tarpits": plan.tarpits,
            "hosts": str(hosts) if hosts else None,
            "bundle": str(plan.ca_bundle) if plan.ca_bundle else None,
            "trust": [str(p) for p in plan.trust_files] if plan.ca_bundle else [],
            "servers": [{"name": s.name, "argv": s.argv, "port": s.port, "log": str(self.scratch / f"{s.name}-{s.port}.log")}
                        for s in plan.servers],
        }  # fmt: skip
        unshare = shutil.which("unshare") or "unshare"
        prefix = [unshare, "--net", "--mount", sys.executable, "-I", "-c", SUPERVISOR, json.dumps(supervisor_plan)]
        variables = {}
        if plan.ca_bundle:
            variables = {name: str(plan.ca_bundle) for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        return prefix, variables

    def leave(self) -> None:
        """Remove the cgroup (once its processes are gone) and the scratch folder."""
        if self.cgroup is not None:
            remove_cgroup(self.cgroup)
            self.cgroup = None
        shutil.rmtree(self.scratch, ignore_errors=True)


def make_cgroup(cpus: float) -> Path:
    """A CPU cgroup with ``cpus`` as its CFS quota, as docker makes for ``nano_cpus``; stale
    ones of processes that are gone are removed first."""
    root = CPU_CGROUP / "ramp"
    root.mkdir(exist_ok=True)
    for stale in root.glob("*-*"):
        pid = stale.name.split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            remove_cgroup(stale, wait_s=0)
    path = root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    (path / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
    (path / "cpu.cfs_quota_us").write_text(str(int(cpus * CFS_PERIOD_US)))
    return path


def remove_cgroup(path: Path, wait_s: float = 5.0) -> None:
    """rmdir a cgroup, waiting up to ``wait_s`` for its last processes to be reaped."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if time.monotonic() >= deadline:
                log.warning("cannot remove cgroup %s: %s", path, exc)
                return
            time.sleep(0.1)
