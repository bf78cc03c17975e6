"""Scale-out on a Ray cluster: neuron mining over many workers, grids of experiment runs.

* :mod:`interp.scale.mining`: ``interp mine --workers N`` / ``--ray-address ADDRESS``: the
  corpus is cut into shards of batches, Ray actors (one copy of the model each, one GPU each
  when the cluster has GPUs) compute each shard's per-neuron top-k with the miner's own code
  (:func:`interp.methods.mining.mine_shard`) and the driver merges them exactly into the
  results store (:func:`interp.methods.mining.mine_sharded`), skipping shards already merged;
* :mod:`interp.scale.grid`: a grid of configs of an experiment script (``main(Config)``) as
  Ray tasks, each stored as a run exactly as the script run alone stores it.

Ray is optional (``pip install -e ".[scale]"``); without it, :func:`require_ray` says how to get
it, one-worker runs need no Ray, and nothing else in interp imports it. This package sits
just below :mod:`interp.commands` in the import layers (it runs methods and scripts; the
commands call it).
"""

from __future__ import annotations

from interp.scale.cluster import ray_available, require_ray

__all__ = ["ray_available", "require_ray"]
