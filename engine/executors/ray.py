"""The Ray executor: evaluations and agent sandboxes run on a Ray cluster's nodes.

The scheduler, the store (its one writer), the model calls and the front ends stay in the head
process; :func:`wrap` swaps the run's evaluator, sandbox factory and governor for ones that send the
work to the cluster:

- an evaluation is a Ray task that asks ``ray.eval_cpus`` and ``ray.eval_memory_mb``; Ray's
  scheduler, not the local governor, decides where and when it starts (:class:`ClusterSlots` only
  keeps as many in flight as the cluster has room for, so the TUI's "evaluating" means running). It
  streams its node, its progress and its result (with its files) back to the head;
- an attempt's sandbox is a Ray actor on a node: the agent's loop and its model calls stay on the
  head, every command, read, write and diff runs on the node;
- a node lost mid-run (its raylet killed, the machine gone) fails what it ran as ``infra``, which the
  attempt runner retries like any infra failure, on a node that is alive. Ray itself retries nothing,
  so an attempt is never graded twice.

Ray is an optional extra (``pip install -e ".[ray]"``); nothing imports it until a run asks for it.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import anyio

from ..core import progress
from ..core.checks import Check
from ..core.errors import AttemptError, ConfigError, ErrorClass
from ..core.proc import CommandResult
from ..core.version import ramp_version
from .node import NodeSpec, SandboxHost, build_evaluator, evaluate_stream, node_label

#: Each function or class made remote once per process (Ray exports it on its first use).
_REMOTE: dict[Any, Any] = {}


def remote(body: Any) -> Any:
    if body not in _REMOTE:
        _REMOTE[body] = ray_module().remote(body)
    return _REMOTE[body]


def ray_module() -> Any:
    """``ray``, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError('run.executor is ray but Ray is not installed: pip install -e ".[ray]"',
                          field="run.executor") from None
    return ray


def connect(settings: Any) -> Any:
    """Join the cluster at ``ray.address`` (once per process); ConfigError naming the field if not."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    address = settings.ray.address
    _reachable(address, settings.ray.connect_timeout_s)
    try:
        ray.init(address=address, namespace="ramp", logging_level="ERROR", log_to_driver=False,
                 configure_logging=False, include_dashboard=False)  # fmt: skip
    except Exception as exc:
        raise ConfigError(
            f"cannot join the Ray cluster at {address!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}; "
            "start it (`ray start --head`) or set ray.address to its head's host:port",
            field="ray.address",
        ) from None
    return ray


def _reachable(address: str, timeout: float) -> None:
    """Refuse at once a head that does not answer (ray.init would wait for it for many minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(
            f"no Ray cluster answers at {address!r} ({exc.strerror or exc}); start it (`ray start --head "
            f"--port {port}`) or set ray.address (--ray-address) to its head's host:port",
            field="ray.address",
        ) from None


def node_spec(settings: Any, repo_source: str, evaluator: str, run_id: str) -> NodeSpec:
    """What every node is sent: the settings without the agents' options (an agent's own ``env``
    may hold a key, and nothing on a node needs them)."""
    shipped = settings.model_copy(update={"agents": {}})
    return NodeSpec(settings_json=shipped.model_dump_json(), repo_source=repo_source,
                    evaluator=evaluator, run_id=run_id, version=ramp_version())  # fmt: skip


def _lost(exc: BaseException, where: str) -> AttemptError:
    """A Ray failure (a node or worker lost, an object gone) as the infra failure it is."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return AttemptError("infra", f"ray: {where}: {type(exc).__name__}: {first}")


class Relay:
    """A node's stream as the head follows it: the node that took the work and its progress are
    reported as they come (``doing`` names the work: "evaluating", "sandbox"), and the first other
    item, the outcome, is returned."""

    def __init__(self, stream: Any, doing: str):
        self.stream = stream
        self.doing = doing
        self.node = ""

    async def final(self) -> tuple[Any, ...] | None:
        async for ref in self.stream:
            item = await ref
            if item[0] == "node":
                self.node = item[1]
                await progress.report(progress.NODE_STEP, progress.node_summary(self.doing, self.node))
            elif item[0] == "progress":
                await progress.report(item[1], item[2])
            else:
                return tuple(item)
        return None


class RayEvaluator:
    """The run's evaluator, run on the cluster (one Ray task per evaluation)."""

    def __init__(self, local: Any, spec: NodeSpec, config: Any):
        self.local = local  # the head's own: its preflight is asked of every node, its name shown
        self.name = local.name
        self.spec = spec
        self.config = config

    async def preflight(self, instances: list[Any]) -> list[str]:
        """The evaluator's own preflight, asked on every node: each lists what it lacks."""
        ray = ray_module()
        task = remote(_node_preflight)
        problems: list[str] = []
        for node in alive_nodes(ray):
            ref = task.options(num_cpus=0, scheduling_strategy=_on(ray, node)).remote(self.spec, instances)
            try:
                label, found = await ref
            except ray.exceptions.RayError as exc:
                problems.append(f"node {node['NodeManagerAddress']}: {_lost(exc, 'preflight').args[0]}")
                continue
            problems += [f"node {label}: {p}" for p in found]
        return problems

    async def evaluate(self, request: Any) -> Any:
        from ..evaluators.base import EvalResult

        ray = ray_module()
        options: dict[str, Any] = {"num_cpus": self.config.eval_cpus, "max_retries": 0, "num_returns": "streaming"}
        if self.config.eval_memory_mb:
            options["memory"] = self.config.eval_memory_mb * 2**20
        stream = remote(evaluate_stream).options(**options).remote(self.spec, request.model_copy(update={"model": None}))
        relay, done = Relay(stream, "evaluating"), False
        try:
            item = await relay.final()
            done = True
            if item is None:
                raise AttemptError("infra", f"ray: the evaluation on node {relay.node or '?'} ended without a result")
            if item[0] == "result":
                result = EvalResult.model_validate(item[1])
                await anyio.to_thread.run_sync(_unpack, request.log_dir, item[2])
                if result.log_path and result.log_path.startswith(item[3]):
                    result.log_path = str(request.log_dir) + result.log_path[len(item[3]):]
                return result.model_copy(update={"node": relay.node})
            error_class: ErrorClass = "infra" if item[0] == "crash" else item[1]
            raise AttemptError(error_class, f"{item[-1]} (on node {relay.node})")
        except ray.exceptions.RayTaskError as exc:  # the node's code failed (Ramp missing there, ...)
            raise _lost(exc, f"the evaluation failed on node {relay.node or '(not started)'}") from None
        except ray.exceptions.RayError as exc:
            raise _lost(exc, f"the evaluation on node {relay.node or '(not started)'} was lost") from None
        finally:
            if not done:
                _cancel(ray, stream)

    async def aclose(self) -> None:
        await self.local.aclose()


def _unpack(folder: Path, files: dict[str, bytes]) -> None:
    """Write an evaluation's files into the attempt's folder (names from the node stay inside it)."""
    root = folder.resolve()
    for name, data in files.items():
        target = (root / name).resolve()
        if not target.is_relative_to(root):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _cancel(ray: Any, ref: Any) -> None:
    try:
        ray.cancel(ref, force=True)
    except Exception:  # already finished, or its node is gone: nothing left to stop
        pass


class RaySandbox:
    """An attempt's sandbox on a node: the Sandbox protocol, each call a call to its actor."""

    def __init__(self, ray: Any, actor: Any, node: str, workdir: str):
        self._ray = ray
        self._actor = actor
        self.node = node
        self.workdir = workdir

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await self._actor.call.remote(method, *args)
        except self._ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, Exception) else RuntimeError(str(exc))
            raise cause from None
        except self._ray.exceptions.RayError as exc:
            raise _lost(exc, f"the sandbox on node {self.node} was lost") from None

    async def run(self, command: str, timeout: float = 60.0) -> CommandResult:
        return CommandResult.model_validate(await self._call("run", command, timeout))

    async def read_file(self, path: str) -> str:
        return str(await self._call("read_file", path))

    async def write_file(self, path: str, content: str) -> None:
        await self._call("write_file", path, content)

    async def list_files(self) -> list[str]:
        return list(await self._call("list_files"))

    async def diff(self) -> str:
        return str(await self._call("diff"))

    async def aclose(self) -> None:
        try:
            with anyio.move_on_after(30):
                await self._actor.call.remote("aclose")
        except self._ray.exceptions.RayError:
            pass  # its node is gone, and the checkout with it
        finally:
            self._ray.kill(self._actor, no_restart=True)


class RaySandboxFactory:
    """Makes each attempt's sandbox on a node, in an actor of its own."""

    def __init__(self, local: Any, spec: NodeSpec, config: Any):
        self.local = local
        self.name = f"{local.name}@ray"
        self.spec = spec
        self.config = config

    async def create(self, instance: Any, key: str) -> RaySandbox:
        ray = ray_module()
        host = remote(SandboxHost).options(num_cpus=self.config.sandbox_cpus, max_restarts=0)
        actor = host.remote(self.spec)
        relay = Relay(actor.create.options(num_returns="streaming").remote(instance, key), "sandbox")
        try:
            item = await relay.final()
            if item is None:
                raise AttemptError("infra", f"ray: the sandbox on node {relay.node or '?'} ended without a checkout")
            if item[0] == "made":
                return RaySandbox(ray, actor, relay.node, item[1])
            raise item[1]
        except BaseException as exc:
            ray.kill(actor, no_restart=True)
            if isinstance(exc, ray.exceptions.RayTaskError):
                raise _lost(exc, f"making the sandbox failed on node {relay.node or '(not started)'}") from None
            if isinstance(exc, ray.exceptions.RayError):
                raise _lost(exc, f"the sandbox's node {relay.node or '(not started)'} was lost") from None
            raise

    async def preflight(self, instances: list[Any]) -> list[str]:
        return []  # the evaluator's preflight, asked on every node, covers what a checkout needs


def alive_nodes(ray: Any) -> list[dict[str, Any]]:
    return [n for n in ray.nodes() if n.get("Alive")]


def _on(ray: Any, node: dict[str, Any]) -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)


def _node_preflight(spec: NodeSpec, instances: list[Any]) -> tuple[str, list[str]]:
    """On one node: what the run's evaluator lacks there (interpreters, tools, the mirror)."""
    async def go() -> list[str]:
        evaluator = build_evaluator(spec)
        try:
            return list(await evaluator.preflight(instances))
        finally:
            await evaluator.aclose()

    try:
        return node_label(), anyio.run(go)
    except AttemptError as exc:
        return node_label(), [str(exc)]


def _node_facts() -> dict[str, Any]:
    import ray

    return {"node": node_label(), "python": sys.version.split()[0], "ray": ray.__version__, "ramp": ramp_version()}


async def cluster_checks(settings: Any) -> list[Check]:
    """``ramp doctor --executor ray``: the cluster answers, and every node runs the head's Python,
    Ray and Ramp, with its CPUs counted."""
    try:
        ray = await anyio.to_thread.run_sync(connect, settings)
    except ConfigError as exc:
        return [Check("ray cluster", False, str(exc), "start the cluster or fix ray.address")]
    nodes = alive_nodes(ray)
    cpus = sum(n.get("Resources", {}).get("CPU", 0) for n in nodes)
    checks = [Check("ray cluster", bool(nodes), f"{settings.ray.address}: {len(nodes)} node(s) alive, {cpus:g} CPUs",
                    "start at least one node (`ray start --address ...`)")]  # fmt: skip
    if cpus and cpus < settings.ray.eval_cpus:
        checks.append(Check("ray resources", False, f"an evaluation asks {settings.ray.eval_cpus:g} CPUs, "
                            f"the cluster has {cpus:g}", "lower ray.eval_cpus or add nodes"))  # fmt: skip
    head = {"python": sys.version.split()[0], "ray": ray.__version__, "ramp": ramp_version()}
    facts = remote(_node_facts)
    for node in nodes:
        try:
            seen = await facts.options(num_cpus=0, scheduling_strategy=_on(ray, node)).remote()
        except ray.exceptions.RayError as exc:
            checks.append(Check(f"ray node {node['NodeManagerAddress']}", False, _lost(exc, "no answer").args[0]))
            continue
        differ = [f"{k} {seen[k]} (head {v})" for k, v in head.items() if seen[k] != v]
        checks.append(Check(
            f"ray node {seen['node']}", not differ,
            f"{node.get('Resources', {}).get('CPU', 0):g} CPUs; " + ("; ".join(differ) or
                                                                    f"Python {seen['python']}, Ray {seen['ray']}, ramp {seen['ramp']}"),
            "install the head's Python, Ray and Ramp versions on this node",
        ))
    return checks
