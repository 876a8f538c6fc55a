"""Engine ``ray``: the same SOPs on a Ray cluster, each role's tool an actor that keeps its model loaded.

The driver (the CLI, ``mora batch``, ``mora serve``) keeps the SOP runner, reviews, events and the job store; a
stage goes to its role's :class:`RoleActor` as the same ``StructuredMessage`` the local agent would get, and its
artifact comes back by reference: the files are written to the run folder, which on a multi-node cluster must be
shared storage mounted at the same path everywhere. Requests that run concurrently pipeline through the roles
(A2 draws request n+1 while A4 animates request n), because each role is its own actor.

Ray is optional (``pip install "mora-agents[ray]"``): nothing here is imported by the local engine.

Beside the agents in the layering: it imports the agents package (its public names) and what lies beneath; the studio
and the front ends that start a cluster import it.
"""

from mora_agents.cluster._cluster import RayCluster, shared_cluster

# RoleActor and RemoteStageAgent (in _actor and _remote_agent) import Ray itself; this module does not, so a
# missing Ray is one sentence from RayCluster, not an ImportError.
__all__ = ["RayCluster", "shared_cluster"]
