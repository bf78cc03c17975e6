"""Getting a Ray cluster: a local one started on the spot, or an existing one by address.

Example::

    >>> with Cluster(workers=2) as cluster:  # a local cluster of 2 CPU slots
    ...     cluster.workers, cluster.gpus_per_worker
    (2, 0.0)
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType
from typing import Any

from interp.core.errors import InterpError

INSTALL_HINT = (
    'Ray is not installed: install the scale extra with `pip install -e ".[scale]"` (or '
    '`pip install "ray>=2.9"`). Without Ray, mine or run the grid in one process '
    "(leave out --workers / --ray-address, or use --workers 1)."
)
#: environment passed to the workers of a local cluster (paths of this machine)
FORWARDED_ENV = ("INTERP_CACHE_DIR", "INTERP_RESULTS_DIR", "INTERP_MODELS_DIR", "HF_HOME",
                 "HF_HUB_OFFLINE", "HF_HUB_CACHE", "TRANSFORMERS_OFFLINE")  # fmt: skip


def ray_available() -> bool:
    """Whether Ray can be imported here."""
    return importlib.util.find_spec("ray") is not None


def require_ray() -> ModuleType:
    """The ``ray`` module, or an :class:`InterpError` that says how to install it."""
    if not ray_available():
        raise InterpError(INSTALL_HINT)
    import ray

    return ray


class Cluster:
    """A Ray connection for one job: ``address=None`` starts a local cluster with ``workers``
    worker slots of ``cpus_per_worker`` CPUs each (default: this machine's CPUs shared out)
    and this machine's GPUs, and shuts it down on exit; an ``address`` (``"auto"``,
    ``"ray://host:10001"``, ``"host:6379"``) joins an existing cluster and leaves it running.

    ``workers`` defaults to the cluster's GPUs (one model per GPU) or, without GPUs, to one
    worker per CPU slot. ``gpus_per_worker`` is 1 when the cluster has a GPU per worker, a
    share when it has fewer, 0 without GPUs.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        address: str | None = None,
        cpus_per_worker: int | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise InterpError(f"--workers must be at least 1; got {workers}.")
        if cpus_per_worker is not None and cpus_per_worker < 1:
            raise InterpError(f"cpus_per_worker must be at least 1; got {cpus_per_worker}.")
        self.ray = require_ray()
        self.address = address
        self._owned = False
        self._requested = (workers, cpus_per_worker)
        self.workers = 0
        self.cpus_per_worker = 1
        self.gpus_per_worker = 0.0

    def __enter__(self) -> Cluster:
        ray = self.ray
        workers, cpus = self._requested
        if self.ray.is_initialized():  # e.g. a test's or a notebook's cluster: use it as is
            pass
        elif self.address is None:
            n_cpu = os.cpu_count() or 1
            n = workers or n_cpu
            cpus = cpus or max(1, n_cpu // n)
            env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
            ray.init(
                num_cpus=n * cpus,
                include_dashboard=False,
                log_to_driver=True,
                configure_logging=False,
                runtime_env={"env_vars": env} if env else None,
            )
            self._owned = True
        else:
            try:
                ray.init(address=self.address, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise InterpError(
                    f"cannot join the Ray cluster at {self.address!r}: {err}. Start one with "
                    "`ray start --head` (and `ray start --address HEAD:6379` on the others)."
                ) from err
            self._owned = True  # our connection, not the cluster: ray.shutdown disconnects
        resources = ray.cluster_resources()
        n_cpu, n_gpu = int(resources.get("CPU", 1)), float(resources.get("GPU", 0))
        n = workers or (int(n_gpu) if n_gpu >= 1 else max(1, n_cpu // (cpus or 1)))
        self.workers = n
        self.cpus_per_worker = cpus or max(1, n_cpu // n)
        self.gpus_per_worker = min(1.0, n_gpu / n) if n_gpu else 0.0
        return self

    def options(self) -> dict[str, Any]:
        """Resources of one worker (actor or task) for ``.options(**...)``."""
        return {"num_cpus": self.cpus_per_worker, "num_gpus": self.gpus_per_worker}

    def __exit__(self, *exc: object) -> None:
        if self._owned and self.ray.is_initialized():
            self.ray.shutdown()
