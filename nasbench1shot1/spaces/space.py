"""The search spaces of NAS-Bench-1Shot1 as data, and the ways to move between their encodings.

A search space fixes how many choice blocks a cell has and how many parents each choice block and
the output take among the vertices before them. An `Architecture` picks one op per choice block
and one parent set per choice block and output. It becomes a NAS-Bench-101 `ModelSpec` (always
7x7: spaces with 4 choice blocks get an empty vertex before the output, which pruning removes),
a ConfigSpace configuration for black-box optimizers, or an index into the enumeration of every
configuration. The one-shot methods hand over architecture weights, which `from_weights` turns
into an architecture by argmax of the op weights and the top-k parent weights.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from ConfigSpace import CategoricalHyperparameter, ConfigurationSpace

from nasbench1shot1.nasbench.spec import (
    AVAILABLE_OPS,
    CONV1X1,
    INPUT,
    OUTPUT,
    ModelSpec,
    reachable_vertices,
)
from nasbench1shot1.registry import Registry

NASBENCH_VERTICES = 7
#: The op given to the empty vertex that widens a 4-block cell to 7 vertices; pruning removes it.
PADDING_OP = CONV1X1


@dataclass(frozen=True)
class Architecture:
    """One configuration of a search space.

    Vertices are numbered as in the space: 0 is the input, 1..B the choice blocks, B+1 the output.
    `ops[i]` is the op of choice block i+1; `parents[i]` the sorted parents of vertex i+1, the
    last entry being the output's.
    """

    ops: tuple[str, ...]
    parents: tuple[tuple[int, ...], ...]


def _parents_label(parents: Sequence[int]) -> str:
    return ",".join(str(p) for p in parents)


@dataclass(frozen=True)
class SearchSpace:
    """A NAS-Bench-1Shot1 search space: how many parents each choice block and the output take."""

    number: int
    num_parents: tuple[int, ...]

    @property
    def num_choice_blocks(self) -> int:
        return len(self.num_parents) - 1

    @property
    def num_vertices(self) -> int:
        """Vertices of the space's own graph: input, choice blocks, output."""
        return self.num_choice_blocks + 2

    @property
    def output_vertex(self) -> int:
        return self.num_choice_blocks + 1

    def parent_options(self, vertex: int) -> list[tuple[int, ...]]:
        """Every parent set vertex `vertex` (1..B+1) may take, in enumeration order."""
        return list(itertools.combinations(range(vertex), self.num_parents[vertex - 1]))

    def has_parent_choice(self, vertex: int) -> bool:
        return len(self.parent_options(vertex)) > 1

    @property
    def vertices_with_parent_choice(self) -> list[int]:
        return [v for v in range(1, self.num_vertices) if self.has_parent_choice(v)]

    @property
    def num_configs(self) -> int:
        structures = int(
            np.prod([len(self.parent_options(v)) for v in range(1, self.num_vertices)])
        )
        return structures * len(AVAILABLE_OPS) ** self.num_choice_blocks

    # -- architecture to NAS-Bench-101 -------------------------------------------------------

    def validate(self, arch: Architecture) -> None:
        """Raise ValueError with one sentence when `arch` is not a configuration of this space."""
        b = self.num_choice_blocks
        if len(arch.ops) != b:
            raise ValueError(f"space {self.number} has {b} choice blocks, got {len(arch.ops)} ops")
        for op in arch.ops:
            if op not in AVAILABLE_OPS:
                raise ValueError(f"unknown op {op!r}, expected one of {list(AVAILABLE_OPS)}")
        if len(arch.parents) != b + 1:
            raise ValueError(
                f"space {self.number} needs {b + 1} parent sets (choice blocks and output), "
                f"got {len(arch.parents)}"
            )
        for vertex, parents in enumerate(arch.parents, start=1):
            if tuple(parents) not in self.parent_options(vertex):
                raise ValueError(
                    f"parents {list(parents)} of vertex {vertex} are not allowed in space "
                    f"{self.number}: it takes {self.num_parents[vertex - 1]} distinct parents "
                    f"among vertices 0..{vertex - 1}"
                )

    def adjacency(self, arch: Architecture) -> np.ndarray:
        """The space's own (B+2)x(B+2) adjacency matrix of `arch`."""
        matrix = np.zeros((self.num_vertices, self.num_vertices), dtype=np.int64)
        for vertex, parents in enumerate(arch.parents, start=1):
            matrix[list(parents), vertex] = 1
        return matrix

    def to_spec(self, arch: Architecture) -> ModelSpec:
        """The NAS-Bench-101 cell of `arch` (7x7, widened by an empty vertex where needed)."""
        self.validate(arch)
        matrix = widen(self.adjacency(arch))
        ops = [INPUT, *arch.ops] + [PADDING_OP] * (NASBENCH_VERTICES - self.num_vertices) + [OUTPUT]
        return ModelSpec(matrix, ops)

    def has_loose_ends(self, arch: Architecture) -> bool:
        """True when some choice block's output never reaches the cell output."""
        return not reachable_vertices(self.adjacency(arch)).all()

    # -- ConfigSpace -------------------------------------------------------------------------

    def configspace(self, seed: int | None = None) -> ConfigurationSpace:
        """One categorical op per choice block and one categorical parent set per vertex that
        has a choice; blocks whose parents are forced have no parent hyperparameter."""
        cs = ConfigurationSpace(name=f"nasbench1shot1_space_{self.number}", seed=seed)
        for block in range(1, self.num_choice_blocks + 1):
            cs.add(CategoricalHyperparameter(f"choice_block_{block}_op", list(AVAILABLE_OPS)))
        for vertex in self.vertices_with_parent_choice:
            options = [_parents_label(p) for p in self.parent_options(vertex)]
            cs.add(CategoricalHyperparameter(self._parents_name(vertex), options))
        return cs

    def _parents_name(self, vertex: int) -> str:
        if vertex == self.output_vertex:
            return "output_parents"
        return f"choice_block_{vertex}_parents"

    def from_config(self, config: Mapping[str, object]) -> Architecture:
        """The architecture of a ConfigSpace configuration (or any mapping of its names)."""
        config = dict(config)
        ops = []
        for block in range(1, self.num_choice_blocks + 1):
            name = f"choice_block_{block}_op"
            if name not in config:
                raise ValueError(f"configuration of space {self.number} lacks {name!r}")
            ops.append(str(config[name]))
        parents = []
        for vertex in range(1, self.num_vertices):
            options = self.parent_options(vertex)
            if len(options) == 1:
                parents.append(options[0])
                continue
            name = self._parents_name(vertex)
            if name not in config:
                raise ValueError(f"configuration of space {self.number} lacks {name!r}")
            value = str(config[name])
            try:
                parents.append(tuple(int(p) for p in value.split(",")))
            except ValueError:
                raise ValueError(
                    f"{name}={value!r} is not a comma-separated list of vertex numbers"
                ) from None
        arch = Architecture(tuple(ops), tuple(parents))
        self.validate(arch)
        return arch

    def to_config(self, arch: Architecture) -> dict[str, str]:
        """The ConfigSpace values (plain Python strings) of `arch`."""
        self.validate(arch)
        config = {f"choice_block_{i}_op": op for i, op in enumerate(arch.ops, start=1)}
        for vertex in self.vertices_with_parent_choice:
            config[self._parents_name(vertex)] = _parents_label(arch.parents[vertex - 1])
        return config

    # -- sampling and mutation ---------------------------------------------------------------

    def sample(self, rng: np.random.Generator) -> Architecture:
        """A configuration drawn uniformly from all configurations of the space."""
        return self.architecture_at(int(rng.integers(self.num_configs)))

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Change one op or one parent set (among those that have a choice) to another value."""
        self.validate(arch)
        choices = [("op", block) for block in range(1, self.num_choice_blocks + 1)]
        choices += [("parents", vertex) for vertex in self.vertices_with_parent_choice]
        kind, vertex = choices[int(rng.integers(len(choices)))]
        ops, parents = list(arch.ops), list(arch.parents)
        if kind == "op":
            others = [op for op in AVAILABLE_OPS if op != ops[vertex - 1]]
            ops[vertex - 1] = others[int(rng.integers(len(others)))]
        else:
            others = [p for p in self.parent_options(vertex) if p != parents[vertex - 1]]
            parents[vertex - 1] = others[int(rng.integers(len(others)))]
        return Architecture(tuple(ops), tuple(parents))

    # -- one-shot weights --------------------------------------------------------------------

    def from_weights(
        self, op_weights: np.ndarray, parent_weights: Mapping[int, np.ndarray]
    ) -> Architecture:
        """Discretize one-shot architecture weights into an architecture.

        `op_weights` has one row per choice block and one column per op in AVAILABLE_OPS order;
        the argmax is the block's op. `parent_weights[v]` has one weight per candidate parent
        0..v-1 of vertex v (the output is vertex B+1); the top-k candidates become its parents,
        k being the vertex's parent count. Vertices without a choice need no weights. Ties go to
        the earlier op or parent.
        """
        op_weights = np.asarray(op_weights, dtype=float)
        expected = (self.num_choice_blocks, len(AVAILABLE_OPS))
        if op_weights.shape != expected:
            raise ValueError(
                f"op weights of space {self.number} must have shape {expected}, "
                f"got {op_weights.shape}"
            )
        ops = tuple(AVAILABLE_OPS[int(i)] for i in np.argmax(op_weights, axis=1))
        parents = []
        for vertex in range(1, self.num_vertices):
            options = self.parent_options(vertex)
            if len(options) == 1:
                parents.append(options[0])
                continue
            if vertex not in parent_weights:
                raise ValueError(f"parent weights of vertex {vertex} are missing")
            weights = np.asarray(parent_weights[vertex], dtype=float)
            if weights.shape != (vertex,):
                raise ValueError(
                    f"parent weights of vertex {vertex} must have shape ({vertex},), "
                    f"got {weights.shape}"
                )
            top = np.argsort(-weights, kind="stable")[: self.num_parents[vertex - 1]]
            parents.append(tuple(sorted(int(p) for p in top)))
        return Architecture(ops, tuple(parents))

    # -- enumeration -------------------------------------------------------------------------

    @cached_property
    def structures(self) -> list[tuple[tuple[int, ...], ...]]:
        """Every choice of parent sets, in enumeration order."""
        return list(
            itertools.product(*(self.parent_options(v) for v in range(1, self.num_vertices)))
        )

    @cached_property
    def op_assignments(self) -> list[tuple[str, ...]]:
        """Every choice of ops, in enumeration order (first block most significant)."""
        return list(itertools.product(AVAILABLE_OPS, repeat=self.num_choice_blocks))

    def architecture_at(self, index: int) -> Architecture:
        """The configuration with enumeration index `index` (0 <= index < num_configs)."""
        if not 0 <= index < self.num_configs:
            raise IndexError(f"configuration index {index} is outside 0..{self.num_configs - 1}")
        structure, ops = divmod(index, len(self.op_assignments))
        return Architecture(self.op_assignments[ops], self.structures[structure])

    def index_of(self, arch: Architecture) -> int:
        """The enumeration index of `arch`."""
        self.validate(arch)
        structure = self.structures.index(tuple(tuple(p) for p in arch.parents))
        return structure * len(self.op_assignments) + self.op_assignments.index(tuple(arch.ops))

    def configurations(self) -> Iterator[Architecture]:
        """Every configuration, loose ends included, in enumeration order."""
        for structure in self.structures:
            for ops in self.op_assignments:
                yield Architecture(ops, structure)


def widen(matrix: np.ndarray) -> np.ndarray:
    """Pad a space's adjacency matrix to NAS-Bench-101's 7 vertices with empty vertices before
    the output, as NAS-Bench-1Shot1 does for its 4-block spaces."""
    missing = NASBENCH_VERTICES - matrix.shape[0]
    if missing < 0:
        raise ValueError(f"a cell has at most {NASBENCH_VERTICES} vertices, got {matrix.shape[0]}")
    if missing == 0:
        return matrix
    n = matrix.shape[0]
    wide = np.zeros((NASBENCH_VERTICES, NASBENCH_VERTICES), dtype=matrix.dtype)
    wide[: n - 1, : n - 1] = matrix[: n - 1, : n - 1]
    wide[: n - 1, -1] = matrix[: n - 1, -1]
    return wide


SEARCH_SPACES: Registry[SearchSpace] = Registry("search space")
for _space in (SearchSpace(1, (1, 2, 2, 2, 2)),
               SearchSpace(2, (1, 1, 2, 2, 3)),
               SearchSpace(3, (1, 1, 1, 2, 2, 2))):
    SEARCH_SPACES.register(_space.number, _space)
del _space


def list_spaces() -> list[int]:
    """The numbers of the search spaces, ascending."""
    return SEARCH_SPACES.list()


def get_search_space(number: int | str) -> SearchSpace:
    """The search space with this number (an integer or its digits); one sentence naming the
    allowed numbers otherwise."""
    key = number
    if isinstance(number, str):
        with contextlib.suppress(ValueError):
            key = int(number)
    if key in SEARCH_SPACES:
        return SEARCH_SPACES.get(key)
    return SEARCH_SPACES.get(number)  # raises UnknownName naming the value as given
