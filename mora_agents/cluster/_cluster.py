"""Joins (or starts) a Ray cluster and keeps one actor per role, each holding the GPUs its profile asks for."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

from mora_agents.agents import ROLES, ToolOptions
from mora_agents.errors import MoraError
from mora_agents.workspace import Workspace
from mora_tools.pipelines.progress import ProgressSink

PASSED_ENVIRONMENT = ("MORA_", "HF_", "OPENAI_API_KEY")
"""Environment variables the actors get from the driver (by prefix): mora's cache and LLM settings, Hugging Face's
cache and offline switch. On a cluster the paths they name must exist on every node."""
PLACEMENT_TIMEOUT = float(os.environ.get("MORA_RAY_PLACEMENT_TIMEOUT", "600"))
"""Seconds an actor may wait for its resources (and load its model) before the run fails saying so."""
MAX_RESTARTS = 3
"""How often Ray restarts a dead actor (and re-runs the stage it was running)."""


class RayCluster:
    """The roles' actors on a Ray cluster, created on first use and kept (with their models) for later runs.

    Args:
        address: a cluster to join (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``); ``None``: Ray's default, i.e. the
            cluster ``RAY_ADDRESS`` or ``ray start`` on this machine named, else a new local one.
        num_cpus: when a local cluster is started here, how many CPUs it offers (``None``: all).

    Raises:
        MoraError: Ray is not installed, or the cluster cannot be reached.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise MoraError('engine ray needs Ray: pip install "mora-agents[ray]"') from None
        self._ray = ray
        if not ray.is_initialized():
            try:
                ray.init(
                    address=address,
                    num_cpus=None if address else num_cpus,
                    include_dashboard=False,
                    logging_level=logging.ERROR,
                    log_to_driver=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = address or "this machine"
                raise MoraError(f"cannot join the Ray cluster at {where}: {str(error).splitlines()[0]}") from None
        self._actors: dict[str, tuple[Any, dict[str, Any]]] = {}

    @property
    def address(self) -> str:
        """The cluster's GCS address (what ``--ray-address`` takes to join it)."""
        return self._ray.get_runtime_context().gcs_address

    def summary(self) -> str:
        """One line for a console: where the cluster is and what it has."""
        resources = self._ray.cluster_resources()
        nodes = len([node for node in self._ray.nodes() if node.get("Alive")])
        return f"Ray cluster at {self.address}: {nodes} node(s), {_free(resources)}"

    def agents(
        self, needed: Iterable[str], profile, options: ToolOptions, workspace: Workspace, progress: ProgressSink
    ) -> dict[str, Any]:
        """A :class:`~mora_agents.cluster.RemoteStageAgent` per role in ``needed``, on the roles' actors."""
        from mora_agents.cluster._remote_agent import RemoteStageAgent

        agents = {}
        for name in needed:
            actor, info = self.actor(name, profile, options)
            agents[name] = RemoteStageAgent(ROLES[name], actor, info, workspace, progress)
        return agents

    def actor(self, role: str, profile, options: ToolOptions) -> tuple[Any, dict[str, Any]]:
        """Role ``role``'s actor for ``profile`` (created with the profile's placement on first use) and what its
        ``describe`` said."""
        key = f"{profile.name}/{role}/{profile.model_dump_json()}/{options}"
        if key not in self._actors:
            self._actors[key] = self._start(role, profile, options)
        return self._actors[key]

    def actors(self) -> list[tuple[str, Any]]:
        """``(role, handle)`` of every actor started so far (for tests and ``mora doctor``)."""
        return [(key.split("/")[1], actor) for key, (actor, _) in self._actors.items()]

    def shutdown(self) -> None:
        """Stop the actors (their models go with them); the cluster stays up."""
        for _, (actor, _) in self._actors.items():
            self._ray.kill(actor, no_restart=True)
        self._actors.clear()

    def _start(self, role: str, profile, options: ToolOptions) -> tuple[Any, dict[str, Any]]:
        from mora_agents.cluster._actor import RoleActor

        placement = profile.placement_of(role)
        threads = placement.threads or _torch_threads()
        actor = RoleActor.options(
            num_gpus=placement.num_gpus,
            num_cpus=placement.num_cpus,
            max_restarts=MAX_RESTARTS,
            max_task_retries=MAX_RESTARTS,
            runtime_env={"env_vars": _passed_environment()},
        ).remote(role, profile, options, threads)
        try:
            info = self._ray.get(actor.describe.remote(), timeout=PLACEMENT_TIMEOUT)
        except self._ray.exceptions.GetTimeoutError:
            self._ray.kill(actor, no_restart=True)
            raise MoraError(
                f"the {role} actor got no place on the cluster within {PLACEMENT_TIMEOUT:.0f} s: it needs "
                f"{placement.num_gpus:g} GPU and {placement.num_cpus:g} CPU, the cluster has "
                f"{_free(self._ray.available_resources())} free (profile '{profile.name}', placement.{role})"
            ) from None
        except self._ray.exceptions.RayTaskError as error:
            self._ray.kill(actor, no_restart=True)
            cause = error.cause
            raise (cause if isinstance(cause, MoraError) else MoraError(f"the {role} actor failed: {cause}")) from None
        return actor, info


_shared: list[RayCluster] = []


def shared_cluster(address: str | None = None) -> RayCluster:
    """This process's :class:`RayCluster`, joined on first use (Ray connects a process to one cluster): every studio
    a chat, a server or a batch makes shares its actors, so a model loads once per role however many runs there
    are."""
    if not _shared:
        _shared.append(RayCluster(address))
    return _shared[0]


def _passed_environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name.startswith(PASSED_ENVIRONMENT)}


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _free(resources: dict[str, float]) -> str:
    return f"{resources.get('GPU', 0):g} GPU and {resources.get('CPU', 0):g} CPU"
