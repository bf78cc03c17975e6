"""The computational graph of a GPT-2-family model, edge by edge, and circuits on it.

Edge-level circuit discovery (Syed et al. 2023, EAP; Hanna et al. 2024, EAP-IG; Mueller et
al. 2025, MIB) works on a graph whose nodes are the residual stream's writers and readers:

* **writers** (sources): the input embedding (token + position), every attention head's
  output (``z_h W_O[h]``, without the layer's output bias) and every MLP's output;
* **readers** (destinations): every head's query, key and value input (three separate
  destinations per head), every MLP's input and the logits (the final residual stream);
* an **edge** from every writer to every reader downstream of it: a head in layer ``l``
  reads the input, the heads and MLPs of layers ``< l``; the MLP of layer ``l`` also reads
  the heads of layer ``l``; the logits read everything.

A model with ``L`` layers of ``H`` heads has
``3H * sum_l (1 + l(H+1)) + sum_l (1 + (l+1)H + l) + (1 + LH + L)`` edges: 32,491 for GPT-2
small (12 x 12), 1,997 for ``reference:ioi`` (8 x 4). :class:`EdgeGraph` is that graph from
the shape alone; node names and the order of the ``[source, destination]`` score matrix
follow MIB's convention (``input``, ``a{l}.h{h}``, ``m{l}``, ``logits``; edges
``a0.h1->a2.h3<q>``, ``m0->logits``), so circuits export to MIB's submission file.

:class:`Circuit` is a scored graph with a set of edges kept: it saves to and loads from JSON
(MIB's ``cfg`` / ``nodes`` / ``edges`` plus this project's own fields), exports MIB's
submission format (:meth:`Circuit.to_mib`), selects top-n or greedy edge sets, prunes dead
nodes as MIB does and converts to a node-level circuit (its heads and MLPs).
"""

from __future__ import annotations

import dataclasses
import heapq
import json
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from interp.core.errors import InterpError
from interp.results.base import Result

QKV = ("q", "k", "v")


def count_edges(n_layers: int, n_heads: int) -> int:
    """The number of edges of the graph of an ``n_layers x n_heads`` GPT-2 (sequential
    attention and MLP), from the shape alone.

    >>> count_edges(12, 12)
    32491
    """
    heads = sum(3 * n_heads * (1 + layer * (n_heads + 1)) for layer in range(n_layers))
    mlps = sum(1 + (layer + 1) * n_heads + layer for layer in range(n_layers))
    return heads + mlps + 1 + n_layers * n_heads + n_layers


@dataclasses.dataclass(frozen=True)
class EdgeGraph:
    """The edge graph of an ``n_layers x n_heads`` GPT-2: node names, the index of every
    source and destination in the ``[n_sources, n_destinations]`` score matrix, and the
    mask of real edges.

    Sources: ``input``, then per layer its heads and its MLP. Destinations: per layer the
    heads' queries, keys and values (``a{l}.h{h}<q>``...), then its MLP; last the logits.

    >>> g = EdgeGraph(2, 1)
    >>> g.n_edges, g.edge_names()[:2]
    (23, ['input->a0.h0<q>', 'input->a0.h0<k>'])
    """

    n_layers: int
    n_heads: int
    d_model: int = 0

    def __post_init__(self) -> None:
        if self.n_layers < 1 or self.n_heads < 1:
            raise InterpError(
                f"an edge graph needs attention heads and layers; this model has "
                f"{self.n_layers} layers of {self.n_heads} heads"
            )

    @classmethod
    def of(cls, model: Any) -> EdgeGraph:
        cfg = model.cfg
        n_heads = int(getattr(cfg, "n_heads", 0) or 0)
        if n_heads <= 0:
            raise InterpError(
                "this model has no attention heads, so it has no edge graph of heads; "
                "use a GPT-2-family model"
            )
        if getattr(cfg, "parallel_attn_mlp", False):
            raise InterpError("parallel attention/MLP blocks are not supported by the edge graph")
        return cls(int(cfg.n_layers), n_heads, int(cfg.d_model))

    # -- sizes and indices (MIB's order) ----------------------------------------------------
    @property
    def n_sources(self) -> int:
        return 1 + self.n_layers * (self.n_heads + 1)

    @property
    def n_destinations(self) -> int:
        return self.n_layers * (3 * self.n_heads + 1) + 1

    @property
    def n_edges(self) -> int:
        return count_edges(self.n_layers, self.n_heads)

    def head_source(self, layer: int, head: int) -> int:
        return 1 + layer * (self.n_heads + 1) + head

    def mlp_source(self, layer: int) -> int:
        return 1 + layer * (self.n_heads + 1) + self.n_heads

    def head_destination(self, layer: int, head: int, qkv: str) -> int:
        return layer * (3 * self.n_heads + 1) + QKV.index(qkv) * self.n_heads + head

    def mlp_destination(self, layer: int) -> int:
        return layer * (3 * self.n_heads + 1) + 3 * self.n_heads

    @property
    def logits_destination(self) -> int:
        return self.n_destinations - 1

    def source_layer(self, index: int) -> int:
        """The block a source belongs to (the input: -1)."""
        return -1 if index == 0 else (index - 1) // (self.n_heads + 1)

    def destination_layer(self, index: int) -> int:
        """The block a destination reads in (the logits: ``n_layers``)."""
        return (
            self.n_layers if index == self.logits_destination else index // (3 * self.n_heads + 1)
        )

    @cached_property
    def source_names(self) -> list[str]:
        names = ["input"]
        for layer in range(self.n_layers):
            names += [f"a{layer}.h{h}" for h in range(self.n_heads)] + [f"m{layer}"]
        return names

    @cached_property
    def destination_names(self) -> list[str]:
        names = []
        for layer in range(self.n_layers):
            for x in QKV:
                names += [f"a{layer}.h{h}<{x}>" for h in range(self.n_heads)]
            names.append(f"m{layer}")
        return names + ["logits"]

    @cached_property
    def real(self) -> np.ndarray:
        """``[n_sources, n_destinations]`` bool: which pairs are edges."""
        mask = np.zeros((self.n_sources, self.n_destinations), dtype=bool)
        for layer in range(self.n_layers):
            upstream = 1 + layer * (self.n_heads + 1)  # sources before this layer's heads
            row = layer * (3 * self.n_heads + 1)
            mask[:upstream, row : row + 3 * self.n_heads] = True
            mask[: upstream + self.n_heads, self.mlp_destination(layer)] = True
        mask[:, self.logits_destination] = True
        return mask

    @cached_property
    def owner(self) -> np.ndarray:
        """``[n_destinations]``: the source node whose input each destination is (logits: -1)."""
        owner = np.full(self.n_destinations, -1)
        for layer in range(self.n_layers):
            for h in range(self.n_heads):
                for x in QKV:
                    owner[self.head_destination(layer, h, x)] = self.head_source(layer, h)
            owner[self.mlp_destination(layer)] = self.mlp_source(layer)
        return owner

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """The (source, destination) indices of every edge, in a fixed order."""
        src, dst = np.nonzero(self.real)
        return src, dst

    def edge_name(self, src: int, dst: int) -> str:
        dest = self.destination_names[dst]
        if "<" in dest:
            node, x = dest[:-1].split("<")
            return f"{self.source_names[src]}->{node}<{x}>"
        return f"{self.source_names[src]}->{dest}"

    def edge_names(self) -> list[str]:
        return [self.edge_name(int(s), int(d)) for s, d in zip(*self.edges())]

    def parse_edge(self, name: str) -> tuple[int, int]:
        """``"a0.h1->a2.h3<q>"`` -> (source index, destination index)."""
        try:
            src, dst = name.split("->")
            if "<" in dst:
                node, x = dst[:-1].split("<")
                dst = f"{node}<{x}>"
            i, j = self.source_names.index(src), self.destination_names.index(dst)
        except ValueError as err:
            raise InterpError(
                f"not an edge of this {self.n_layers}x{self.n_heads} graph: {name!r}"
            ) from err
        if not self.real[i, j]:
            raise InterpError(f"{name!r} goes upstream: not an edge")
        return i, j

    def prune(self, keep: np.ndarray) -> np.ndarray:
        """MIB's pruning: repeatedly drop nodes without an edge in or out of the circuit
        (the input always counts as fed, the logits as kept) and edges whose ends are
        dropped. Only dead edges go: a node fed by no kept edge outputs its corrupted
        value anyway."""
        keep = keep & self.real
        owner = self.owner
        while True:
            out = keep.any(1)
            fed = np.zeros(self.n_sources, dtype=bool)
            fed_dest = keep.any(0)
            np.logical_or.at(fed, owner[(owner >= 0) & fed_dest], True)
            fed[0] = True
            alive = out & fed
            dest_alive = np.ones(self.n_destinations, dtype=bool)
            dest_alive[owner >= 0] = alive[owner[owner >= 0]]
            new = keep & alive[:, None] & dest_alive[None, :]
            if np.array_equal(new, keep):
                return keep
            keep = new


@dataclasses.dataclass(frozen=True, eq=False)
class Circuit(Result):
    """Edge scores on a model's graph and the set of edges kept (``in_graph``).

    ``scores[source, destination]``: the importance of each edge (NaN where no edge), the
    larger the more the metric drops when the edge carries its corrupted value (MIB's
    sign: the metric's loss). Select with :meth:`top_n` / :meth:`greedy`; save with
    :meth:`to_json`, export with :meth:`to_mib`.

    >>> import numpy as np
    >>> g = EdgeGraph(1, 1, d_model=8)
    >>> c = Circuit.from_scores(g, np.where(g.real, 1.0, np.nan), method="demo")
    >>> c.top_n(2, prune=False).kept_edges(), c.n_edges
    (['input->a0.h0<q>', 'input->a0.h0<k>'], 8)
    >>> c.top_n(2).n_kept  # pruned: a0.h0 has no kept edge out, so its inputs are dead
    0
    """

    kind: ClassVar[str] = "edge_circuit"
    scores: np.ndarray  # [n_sources, n_destinations] float32, NaN off-graph
    in_graph: np.ndarray  # [n_sources, n_destinations] bool
    n_layers: int
    n_heads: int
    d_model: int
    method: str = ""
    metric: str = "logit_diff"
    ablation: str = "patching"
    direction: str = "noising"
    n_prompts: int = 0
    model: str = ""
    seconds: float = float("nan")

    @classmethod
    def from_scores(cls, graph: EdgeGraph, scores: np.ndarray, **fields: Any) -> Circuit:
        scores = np.where(graph.real, np.asarray(scores, dtype=np.float32), np.nan)
        return cls(
            scores=scores.astype(np.float32),
            in_graph=np.zeros_like(graph.real),
            n_layers=graph.n_layers,
            n_heads=graph.n_heads,
            d_model=graph.d_model,
            **fields,
        )

    @property
    def graph(self) -> EdgeGraph:
        return EdgeGraph(self.n_layers, self.n_heads, self.d_model)

    @property
    def n_edges(self) -> int:
        return self.graph.n_edges

    @property
    def n_kept(self) -> int:
        return int(self.in_graph.sum())

    def edge_scores(self) -> np.ndarray:
        """The scores of every edge, in :meth:`EdgeGraph.edges` order."""
        return self.scores[self.graph.real]

    def kept_edges(self) -> list[str]:
        g = self.graph
        return [g.edge_name(int(s), int(d)) for s, d in zip(*np.nonzero(self.in_graph))]

    def with_edges(self, keep: np.ndarray, prune: bool = True) -> Circuit:
        keep = np.asarray(keep, dtype=bool) & self.graph.real
        return dataclasses.replace(self, in_graph=self.graph.prune(keep) if prune else keep)

    def _ranked(self, absolute: bool) -> np.ndarray:
        values = np.abs(self.scores) if absolute else self.scores.copy()
        values = np.where(self.graph.real, values, -np.inf).ravel()
        return np.argsort(-values, kind="stable")

    def top_n(self, n: int, absolute: bool = True, prune: bool = True) -> Circuit:
        """The ``n`` best-scoring edges (by |score|, or signed with ``absolute=False``),
        then MIB's pruning."""
        if not 0 <= n <= self.n_edges:
            raise InterpError(f"n must be between 0 and {self.n_edges} edges; got {n}")
        keep = np.zeros(self.scores.size, dtype=bool)
        keep[self._ranked(absolute)[:n]] = True
        return self.with_edges(keep.reshape(self.scores.shape), prune)

    def greedy(self, n: int, absolute: bool = True, prune: bool = True) -> Circuit:
        """Greedy selection from the logits up (as MIB's ``apply_greedy``): repeatedly take
        the best-scoring edge into a node already in the circuit (the logits first)."""
        if not 0 <= n <= self.n_edges:
            raise InterpError(f"n must be between 0 and {self.n_edges} edges; got {n}")
        g = self.graph
        values = np.abs(self.scores) if absolute else self.scores
        into: dict[int, list[int]] = {}  # source node -> its destinations
        for d, owner in enumerate(g.owner):
            into.setdefault(int(owner), []).append(d)
        keep = np.zeros_like(g.real)
        in_circuit = {-1}
        heap: list[tuple[float, int, int]] = []

        def push(node: int) -> None:
            for d in into.get(node, []):
                for s in np.nonzero(g.real[:, d])[0]:
                    heapq.heappush(heap, (-float(values[s, d]), int(s), d))

        push(-1)
        while n > 0 and heap:
            _, s, d = heapq.heappop(heap)
            keep[s, d] = True
            n -= 1
            if s not in in_circuit:
                in_circuit.add(s)
                push(s)
        return self.with_edges(keep, prune)

    def nodes(self) -> list[str]:
        """The nodes the kept edges touch (sources with a kept edge out; the logits)."""
        g = self.graph
        used = np.asarray(self.in_graph.any(1))
        return [n for i, n in enumerate(g.source_names) if used[i]] + ["logits"]

    def heads(self) -> list[tuple[int, int]]:
        """The node-level circuit: the heads with a kept edge out, as (layer, head)."""
        g = self.graph
        used = np.asarray(self.in_graph.any(1))
        return [
            (layer, h)
            for layer in range(g.n_layers)
            for h in range(g.n_heads)
            if used[g.head_source(layer, h)]
        ]

    # -- files ------------------------------------------------------------------------------
    def to_mib(self) -> dict[str, Any]:
        """MIB's submission format (EAP-IG's ``Graph.to_json``): ``cfg``, ``nodes`` (name ->
        ``in_graph``) and ``edges`` (name -> ``score``, ``in_graph``)."""
        g = self.graph
        used = np.asarray(self.in_graph.any(1))
        nodes = {name: {"in_graph": bool(used[i])} for i, name in enumerate(g.source_names)}
        nodes["logits"] = {"in_graph": True}
        edges = {
            g.edge_name(int(s), int(d)): {
                "score": float(self.scores[s, d]),
                "in_graph": bool(self.in_graph[s, d]),
            }
            for s, d in zip(*g.edges())
        }
        cfg = {
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "parallel_attn_mlp": False,
            "d_model": self.d_model,
        }
        return {"cfg": cfg, "nodes": nodes, "edges": edges}

    def to_json(self, path: str | Path) -> Path:
        """Write MIB's format plus this circuit's own fields (``interp``); lossless."""
        data = self.to_mib()
        data["interp"] = {
            k: getattr(self, k)
            for k in ("method", "metric", "ablation", "direction", "n_prompts", "model", "seconds")
        }
        path = Path(path)
        path.write_text(json.dumps(data))
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> Circuit:
        """Read a circuit written by :meth:`to_json` or a MIB submission file."""
        data = json.loads(Path(path).read_text())
        missing = {"cfg", "nodes", "edges"} - set(data)
        if missing:
            raise InterpError(f"{path}: not a circuit file (missing {sorted(missing)})")
        cfg = data["cfg"]
        g = EdgeGraph(int(cfg["n_layers"]), int(cfg["n_heads"]), int(cfg.get("d_model", 0)))
        scores = np.full(g.real.shape, np.nan, dtype=np.float32)
        keep = np.zeros(g.real.shape, dtype=bool)
        for name, info in data["edges"].items():
            s, d = g.parse_edge(name)
            scores[s, d] = info["score"]
            keep[s, d] = bool(info["in_graph"])
        extra = data.get("interp", {})
        return dataclasses.replace(Circuit.from_scores(g, scores, **extra), in_graph=keep)

    def same_as(self, other: Circuit) -> bool:
        """Identical scores (NaN where no edge), kept edges and fields."""
        sa, sb = self.summary(), other.summary()
        for key in set(sa) | set(sb):
            x, y = sa.get(key), sb.get(key)
            both_nan = isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y)
            if x != y and not both_nan:
                return False
        return np.array_equal(self.scores, other.scores, equal_nan=True) and np.array_equal(
            self.in_graph, other.in_graph
        )

    def figure(self, top: int = 60):
        from interp.figures.edges import edge_graph_figure

        circuit = self if self.n_kept else self.top_n(min(top, self.n_edges))
        return edge_graph_figure(
            circuit.scores,
            circuit.in_graph,
            circuit.graph.source_names,
            circuit.graph.destination_names,
            circuit.graph.owner,
            self.n_layers,
            self.n_heads,
            title=f"{self.method or 'edge'} circuit: {circuit.n_kept} of {self.n_edges} edges",
        )
