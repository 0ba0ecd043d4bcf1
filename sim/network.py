"""Who can refer whom: the market's social network, built once per run from the run seed.

A well-mixed market has no graph (`build_network` returns None): any person can reach any other.
Otherwise the scenario names a networkx generator and its arguments; the graph is seeded from the
run seed through its own `SeedSequence` stream, so both engines build the same graph for the same
seed. Nothing here draws referrals; engines do that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # networkx is imported when a network is built (every worker imports this)
    import networkx as nx

NETWORK_STREAM = 0x6E6574  # spawn key separating the network's randomness from the run's


def network_seed(run_seed: int) -> int:
    """The seed networkx gets for a run: a fixed function of the run seed."""
    return int(np.random.SeedSequence([run_seed, NETWORK_STREAM]).generate_state(1)[0])


def build_network(spec: str | Mapping[str, Any], size: int, run_seed: int) -> nx.Graph | None:
    """The market's graph over people 0..size-1, or None for a well-mixed market.

    Args:
        spec: ``market.network`` of a validated scenario: ``"well_mixed"`` or a dict with
            ``generator`` and its arguments.
        size: number of people.
        run_seed: the run's seed.
    """
    if isinstance(spec, str):  # the loader allows only "well_mixed"
        return None
    import networkx as nx

    seed = network_seed(run_seed)
    gen = spec["generator"]
    if size == 0:
        return nx.empty_graph(0)
    if gen == "watts_strogatz":
        return nx.watts_strogatz_graph(size, spec["k"], spec["p"], seed=seed)
    if gen == "barabasi_albert":
        return nx.barabasi_albert_graph(size, spec["m"], seed=seed)
    if gen == "erdos_renyi":
        return nx.fast_gnp_random_graph(size, spec["p"], seed=seed)
    raise ValueError(f"unknown network generator {gen!r}")  # the scenario loader prevents this


def adjacency_csr(graph: nx.Graph) -> tuple[np.ndarray, np.ndarray]:
    """The graph as CSR arrays (indptr, indices) over nodes 0..n-1, neighbours ascending."""
    import networkx as nx

    matrix = nx.to_scipy_sparse_array(graph, nodelist=range(graph.number_of_nodes()), format="csr")
    matrix.sort_indices()
    return matrix.indptr.astype(np.int64), matrix.indices.astype(np.int32)
