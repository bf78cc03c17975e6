"""Neuron mining on a Ray cluster (``interp mine --workers N`` / ``--ray-address ADDRESS``).

The driver tokenises the corpus, plans the job's shards (consecutive batches, the job's own
batch size, so each window goes through the model in exactly the batch it would in one
process) and sends each shard's windows to a pool of Ray actors, each holding one copy of
the model (on its own GPU when the cluster has GPUs). A worker computes the shard's
per-neuron top-k with :func:`interp.methods.mining.mine_shard` and the driver merges the
results as they come, exactly (ties by corpus position), with
:func:`interp.methods.mining.mine_sharded`: the same job and the same stored rows as
``interp mine`` in one process. Merged shards are recorded in the results store with the
examples they changed, so a restarted driver skips them. Actors are restarted by Ray when
their process dies and the shard they held is mined again (``max_restarts``,
``max_task_retries``); a shard mined twice is merged once.

Example::

    >>> from interp.core.trained import locate
    >>> corpus = locate("text") / "heldout.txt"  # English glosses shipped with trained:text
    >>> result = mine_on_ray("reference:recall", corpus, workers=2, k=4, window=16)
    >>> result.activation.shape
    (8, 64, 4)
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

from interp.core.errors import InterpError
from interp.methods.mining import MiningResult, ShardTask, ShardTopK, mine_shard, mine_sharded
from interp.scale.cluster import Cluster

#: tasks queued on each actor at once (one running, one waiting: no idle gap between shards)
IN_FLIGHT = 2
#: how often Ray restarts a dead actor, and retries the shard it held
MAX_RESTARTS = 4


class MinerWorker:
    """A Ray actor's state: one copy of the model, loaded once (again after a restart)."""

    def __init__(self, model: str, device: str, threads: int, dtype: str = "float32") -> None:
        import torch

        from interp.core.models import load

        torch.set_num_threads(max(1, threads))
        self.model = load(model, device=device, dtype=dtype)

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "device": str(self.model.cfg.device)}  # fmt: skip

    def mine(self, task: ShardTask) -> ShardTopK:
        return mine_shard(self.model, task)


class MinerPool:
    """Ray actors holding ``model`` on a :class:`~interp.scale.cluster.Cluster`; use
    :meth:`run_shards` as the ``run_shards`` of :func:`~interp.methods.mining.mine_sharded`.
    Reusable for several jobs of the same model; :meth:`close` (or ``with``) ends the
    actors and a local cluster."""

    def __init__(
        self,
        model: str,
        *,
        workers: int | None = None,
        address: str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        cpus_per_worker: int | None = None,
    ) -> None:
        self.model = model
        self.cluster = Cluster(workers, address=address, cpus_per_worker=cpus_per_worker)
        self.cluster.__enter__()
        try:
            ray = self.cluster.ray
            opts = self.cluster.options()
            worker_device = device if device != "auto" or opts["num_gpus"] else "cpu"
            actor = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)(
                MinerWorker
            )
            self.actors = [
                actor.options(**opts).remote(model, worker_device, opts["num_cpus"], dtype)
                for _ in range(self.cluster.workers)
            ]
            self.workers = self._get([a.info.remote() for a in self.actors])
        except BaseException:
            self.close()
            raise

    def _get(self, refs):
        ray = self.cluster.ray
        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as err:
            cause = err.as_instanceof_cause()
            if isinstance(cause, InterpError):
                raise InterpError(str(cause).splitlines()[-1]) from err
            raise
        except ray.exceptions.RayActorError as err:
            raise InterpError(f"a mining worker of {self.model} kept failing: {err}") from err

    def pids(self) -> list[int]:
        """Current process id of each actor (it changes when Ray restarts a dead actor)."""
        self.workers = self._get([a.info.remote() for a in self.actors])
        return [w["pid"] for w in self.workers]

    def run_shards(self, tasks: list[ShardTask]) -> Iterator[ShardTopK]:
        """Mine ``tasks`` on the actors (at most :data:`IN_FLIGHT` queued per actor), yield
        each result as it arrives."""
        ray = self.cluster.ray
        queue = list(reversed(tasks))
        inflight: dict[Any, int] = {}  # ref -> actor
        load = [0] * len(self.actors)
        try:
            while queue or inflight:
                for a in range(len(self.actors)):
                    while queue and load[a] < IN_FLIGHT:
                        ref = self.actors[a].mine.remote(queue.pop())
                        inflight[ref] = a
                        load[a] += 1
                ready, _ = ray.wait(list(inflight), num_returns=1)
                load[inflight.pop(ready[0])] -= 1
                yield self._get(ready[0])
        finally:
            for ref in inflight:  # stopped early: drop what is still queued
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 - cancelling is best effort
                    pass

    def close(self) -> None:
        ray = self.cluster.ray
        for actor in getattr(self, "actors", []):
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []
        self.cluster.__exit__(None, None, None)

    def __enter__(self) -> MinerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mine_on_ray(
    model: str,
    corpus=None,
    *,
    workers: int | None = None,
    address: str | None = None,
    device: str = "auto",
    pool: MinerPool | None = None,
    shard_batches: int | None = None,
    **kwargs: Any,
) -> MiningResult:
    """Mine ``model`` (a name or directory every worker can load) over ``corpus`` on Ray:
    ``workers`` actors on a local cluster started here, or on the cluster at ``address``
    (or on an existing ``pool``). ``kwargs`` are :func:`~interp.methods.mining.mine`'s
    (``layers``, ``k``, ``window``, ``batch_size``, ``max_tokens``, ``store``,
    ``checkpoint_every``, ``show_progress``) and ``on_shard``. The job and its stored rows
    are those of the single-process miner."""
    from interp.core.models import load

    driver_model = load(model, device="cpu")  # tokenizer, shapes and identity only
    own = pool is None
    pool = pool or MinerPool(model, workers=workers, address=address, device=device)
    try:
        return mine_sharded(
            driver_model, corpus, run_shards=pool.run_shards, shard_batches=shard_batches,
            workers=len(pool.actors), **kwargs,
        )  # fmt: skip
    finally:
        if own:
            pool.close()
