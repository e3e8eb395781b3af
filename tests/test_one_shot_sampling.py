"""Ning et al. (2021)'s mitigations of weight sharing, for Random-WS and the one-shot estimator:
de-isomorphic sampling (`method.sampling=cells`: unique cells uniformly by hash) and a reduced
sharing degree (`method.sharing_groups`: cells grouped by hash, one supernet per group); their
settings' one-sentence refusals; and the estimator's K supernets, written, scored and resumed."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from nasbench1shot1.checks import SettingsError
from nasbench1shot1.conf.estimate import EstimateSettings
from nasbench1shot1.conf.estimator import OneShotConfig
from nasbench1shot1.conf.method import RandomWSConfig
from nasbench1shot1.conf.protocol import ProtocolConfig
from nasbench1shot1.conf.search import SearchSettings
from nasbench1shot1.config import method_defaults
from nasbench1shot1.methods import Batch, get_method
from nasbench1shot1.methods.original import OriginalSelection
from nasbench1shot1.methods.random_ws import group_cells, sharing_group_of
from nasbench1shot1.models.supernet import Supernet, SupernetConfig
from nasbench1shot1.runfiles import CHECKPOINT_FILE, ESTIMATE_FILE, SCORES_FILE
from nasbench1shot1.spaces import cell_architectures, configuration_hashes, get_search_space


def make(space_number: int = 1, protocol: str = "plain", seed: int = 0, **params):
    """A Random-WS method on a tiny supernet (as tests/test_methods.py builds one)."""
    space = get_search_space(space_number)
    torch.manual_seed(seed)
    model = Supernet(space, SupernetConfig(channels=4, num_cells=3, in_channels=1))
    values = {**method_defaults("random_ws"), "eval_samples": 5, "eval_batches": 1, **params}
    method = get_method("random_ws")(space, model, values, epochs=2,
                                     generator=torch.Generator().manual_seed(seed),
                                     protocol=ProtocolConfig(random_ws=protocol))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return space, method, optimizer


def batches(seed: int = 0, n: int = 8, count: int = 2) -> list[Batch]:
    g = torch.Generator().manual_seed(seed)
    return [Batch(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g))
            for _ in range(count)]


def twin(rng: np.random.Generator) -> np.random.Generator:
    """A generator in `rng`'s state (drawing from it leaves `rng` as it is)."""
    copy = np.random.default_rng()
    copy.bit_generator.state = rng.bit_generator.state
    return copy


def key_of(space, arch) -> str:
    return space.to_spec(arch).hash_spec()


# -- the method ---------------------------------------------------------------------------


def test_configuration_sampling_is_the_default_and_keeps_todays_draws_and_identity():
    space, method, _ = make()
    assert method.sampling == "configurations" and method.sharing_groups == 1
    rng = twin(method.rng)
    assert [method.sample() for _ in range(50)] == [space.sample(rng) for _ in range(50)]
    # runs made before the settings existed keep their identity (the settings at the defaults)
    identity = SearchSettings(method=RandomWSConfig(), device="cpu").identity()["method"]
    assert not {"sampling", "sharing_groups", "sharing_group"} & set(identity)
    assert RandomWSConfig().params()["sampling"] == "configurations"
    assert SearchSettings(method=RandomWSConfig(sampling="cells", sharing_groups=2,
                                                sharing_group=1), device="cpu").identity()[
        "method"] == {"name": "random_ws", "eval_samples": 100, "eval_batches": 2,
                      "sampling": "cells", "sharing_groups": 2, "sharing_group": 1}


@pytest.mark.parametrize("space_number", [1, 2])
def test_cell_sampling_draws_a_unique_cell_uniformly_by_hash(space_number: int):
    space, method, _ = make(space_number, sampling="cells")
    cells = cell_architectures(space)
    hashes = sorted(cells)
    assert method.cell_hashes == hashes
    # exactly: the method RNG's integers pick an index into the sorted unique hashes
    rng = twin(method.rng)
    drawn = [method.sample() for _ in range(300)]
    assert drawn == [cells[hashes[int(rng.integers(len(hashes)))]] for _ in range(300)]
    # each drawn configuration makes the cell it was drawn for
    assert all(cells[key_of(space, arch)] == arch for arch in drawn[:30])


def test_cell_sampling_is_uniform_over_cells_unlike_configuration_sampling():
    space = get_search_space(1)
    hashes = sorted(cell_architectures(space))
    draws = 20_000

    def dispersion(keys) -> float:
        """Pearson's chi-square against a uniform draw over the cells, per degree of freedom
        (about 1 for a uniform draw)."""
        counted = Counter(keys)
        counts = np.array([counted.get(key, 0) for key in hashes])
        expected = draws / len(hashes)
        return float(((counts - expected) ** 2 / expected).sum() / (len(hashes) - 1))

    _, cells_method, _ = make(sampling="cells")
    by_cell = {arch: key for key, arch in cell_architectures(space).items()}
    cell_keys = [by_cell[cells_method.sample()] for _ in range(draws)]
    rng = np.random.default_rng(0)
    configuration_keys = [k.decode() for k in
                          configuration_hashes(space)[rng.integers(space.num_configs, size=draws)]]
    assert set(cell_keys) <= set(hashes)
    assert dispersion(cell_keys) < 1.3           # seed 0: 1.03
    assert dispersion(configuration_keys) > 20   # seed 0: about 180


def test_sharing_groups_partition_the_cells_and_the_sampler_stays_in_its_group(monkeypatch):
    space = get_search_space(1)
    cells = cell_architectures(space)
    groups = [group_cells(space, 3, g) for g in range(3)]
    assert sorted(k for group in groups for k in group) == sorted(cells)  # each cell once
    for g, group in enumerate(groups):
        assert all(sharing_group_of(key, 3) == g == int(key[:8], 16) % 3 for key in group)
        assert abs(len(group) - len(cells) / 3) < 0.1 * len(cells)
    _, method, optimizer = make(sampling="cells", sharing_groups=3, sharing_group=2)
    assert set(method.cell_hashes) == set(groups[2])
    drawn = [method.sample() for _ in range(500)]
    scored = []
    monkeypatch.setattr(method, "score", lambda arch, b: scored.append(arch) or 0.5)
    method.end_epoch(1, batches())
    train, valid = batches(count=2)
    method.step(train, valid, optimizer, 0.05, 5.0)
    assert len(scored) == 5
    for arch in [*drawn, *scored, method.discretize()]:
        assert sharing_group_of(key_of(space, arch), 3) == 2


def test_cell_sampling_under_the_original_protocol_selects_and_resumes_identically():
    train, valid = batches()
    valid_batches = batches(seed=1, count=3)
    params = {"sampling": "cells", "sharing_groups": 2, "sharing_group": 1}
    space, method_a, opt_a = make(protocol="original", **params)
    method_a.original = dataclasses.replace(method_a.original,
                                            selection=OriginalSelection(6, 2, 2))
    method_a.step(train, valid, opt_a, 0.05, 5.0)
    method_a.end_epoch(1, valid_batches)
    state = (copy.deepcopy(method_a.model.state_dict()), method_a.state_dict())
    method_a.end_epoch(2, valid_batches)
    assert sharing_group_of(key_of(space, method_a.discretize()), 2) == 1

    _, method_b, _ = make(protocol="original", seed=1, **params)
    method_b.original = method_a.original
    method_b.model.load_state_dict(state[0])
    method_b.load_state_dict(state[1])
    method_b.end_epoch(2, valid_batches)
    assert method_b.discretize() == method_a.discretize()
    assert method_b.best_accuracy == method_a.best_accuracy


@pytest.mark.parametrize(("values", "message"), [
    ({"sampling": "unique"}, r"^method.sampling must be configurations or cells, got 'unique'$"),
    ({"sampling": "cells", "sharing_groups": 0},
     r"^method.sharing_groups must be a positive integer, got 0$"),
    ({"sampling": "cells", "sharing_groups": 2, "sharing_group": 2},
     r"^method.sharing_group must be an integer in \[0, 1\] \(sharing_groups=2\), got 2$"),
    ({"sharing_groups": 2},
     r"^method.sharing_groups=2 groups cells by hash, so it needs method.sampling=cells, got "
     r"'configurations'$"),
])
def test_bad_random_ws_sampling_settings_are_one_sentence(values: dict, message: str):
    with pytest.raises(SettingsError, match=message):
        RandomWSConfig(**values)


@pytest.mark.parametrize(("values", "message"), [
    ({"sampling": "cells"}, r"^estimator.sampling=cells samples unique cells for method "
                            r"random_ws only, not darts"),
    ({"method": "enas", "sampling": "cells"}, r"not enas \(ENAS's controller samples each "
                                              r"decision"),
    ({"method": "random_ws", "sampling": "all"},
     r"^estimator.sampling must be configurations or cells, got 'all'$"),
    ({"method": "random_ws", "sampling": "cells", "sharing_groups": 0},
     r"^estimator.sharing_groups must be a positive integer, got 0$"),
    ({"method": "random_ws", "sharing_groups": 2},
     r"^estimator.sharing_groups=2 trains one Random-WS supernet per group of cells, so it "
     r"needs estimator.method=random_ws and estimator.sampling=cells, got method random_ws and "
     r"sampling configurations$"),
    ({"sampling": "cells", "sharing_groups": 2}, r"not darts"),
])
def test_bad_one_shot_sampling_settings_are_one_sentence(values: dict, message: str):
    with pytest.raises(SettingsError, match=message):
        OneShotConfig(**values)


# -- the estimator ------------------------------------------------------------------------

TINY = ["supernet.channels=4", "supernet.num_cells=3"]


def _estimate(run_dir: Path, **values) -> dict:
    from nasbench1shot1.estimators.run import estimate

    config = OneShotConfig(**{"method": "random_ws", "epochs": 1, "search": TINY, **values})
    settings = EstimateSettings(estimator=config, cells=20, threads=1, progress=False)
    return estimate(settings, run_dir, echo=False)


def _stamps(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name != "run.lock"}


@pytest.mark.timeout(300)
def test_the_estimator_trains_a_supernet_per_sharing_group_and_resumes_them(tmp_path: Path,
                                                                           monkeypatch):
    import nasbench1shot1.correlation as correlation

    run = tmp_path / "run"
    result = _estimate(run, sampling="cells", sharing_groups=2)
    groups = [run / "supernet" / f"group{g}" for g in range(2)]
    assert not (run / "supernet" / CHECKPOINT_FILE).exists()
    for g, folder in enumerate(groups):
        assert (folder / CHECKPOINT_FILE).is_file()
        method = json.loads((folder / "run.json").read_text())["settings"]["method"]
        assert method == {"name": "random_ws", "eval_samples": 100, "eval_batches": 2,
                          "sampling": "cells", "sharing_groups": 2, "sharing_group": g}
    assert result["cells"] == 20 and result["cost"]["cells_scored"] == 20
    assert result["cost"]["init_seconds"] > 0
    with np.load(run / SCORES_FILE, allow_pickle=False) as stored:
        hashes, scores = list(stored["hashes"]), stored["scores"]
    assert len(hashes) == 20 and np.isfinite(scores).all()
    assert {sharing_group_of(key.decode(), 2) for key in hashes} == {0, 1}  # both supernets score

    # the estimate again from its finished supernets: nothing is trained again, the same scores,
    # each cell scored by the supernet of its group
    before = [_stamps(folder) for folder in groups]
    for name in (ESTIMATE_FILE, SCORES_FILE):
        (run / name).unlink()
    calls, score_cells = [], correlation.score_cells
    space = get_search_space(1)

    def spy(method, cells, *rest):
        calls.append((method.model, {sharing_group_of(key_of(space, a), 2) for a in cells},
                      len(cells)))
        return score_cells(method, cells, *rest)

    monkeypatch.setattr(correlation, "score_cells", spy)
    again = _estimate(run, sampling="cells", sharing_groups=2)
    assert sum(n for _, _, n in calls) == 20 and {len(g) for _, g, _ in calls} == {1}
    assert len({id(model) for model, _, _ in calls}) == len({min(g) for _, g, _ in calls}) == 2
    assert [_stamps(folder) for folder in groups] == before
    assert again["kendall_tau"] == result["kendall_tau"]
    with np.load(run / SCORES_FILE, allow_pickle=False) as stored:
        np.testing.assert_array_equal(stored["scores"], scores)

    # a missing group's supernet is trained alone
    for name in (ESTIMATE_FILE, SCORES_FILE):
        (run / name).unlink()
    shutil.rmtree(groups[1])
    _estimate(run, sampling="cells", sharing_groups=2)
    assert _stamps(groups[0]) == before[0] and (groups[1] / CHECKPOINT_FILE).is_file()


@pytest.mark.timeout(300)
def test_the_estimator_with_cell_sampling_keeps_one_supernet_folder(tmp_path: Path):
    result = _estimate(tmp_path, sampling="cells")
    assert (tmp_path / "supernet" / CHECKPOINT_FILE).is_file()
    assert not (tmp_path / "supernet" / "group0").exists()
    method = json.loads((tmp_path / "supernet" / "run.json").read_text())["settings"]["method"]
    assert (method["sampling"], method["sharing_groups"], method["sharing_group"]) == \
        ("cells", 1, 0)
    assert result["cost"]["cells_scored"] == 20
    # estimator.sampling at its default leaves the sampling estimator.search says
    _estimate(tmp_path / "searched", search=[*TINY, "method.sampling=cells"])
    method = json.loads((tmp_path / "searched" / "supernet" / "run.json").read_text())[
        "settings"]["method"]
    assert method["sampling"] == "cells"


@pytest.mark.timeout(120)
def test_nb1s1_estimate_refuses_cell_sampling_for_darts_in_one_sentence(tmp_path: Path):
    script = shutil.which("nb1s1-estimate") or pytest.fail("nb1s1-estimate is not installed")
    done = subprocess.run([script, "estimator=one_shot", "estimator.sampling=cells",
                           f"hydra.run.dir={tmp_path}/bad"], capture_output=True, text=True,
                          timeout=110)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "nb1s1-estimate: error: estimator.sampling=cells samples unique cells for method "
        "random_ws only, not darts (ENAS's controller samples each decision, the gradient "
        "methods relax them); use estimator.method=random_ws")
    assert not (tmp_path / "bad").exists()


def test_estimates_made_before_the_sampling_settings_keep_their_identity():
    from dataclasses import replace

    from nasbench1shot1.conf.estimate import EstimateSettings
    from nasbench1shot1.conf.estimator import OneShotConfig

    plain = EstimateSettings(estimator=OneShotConfig()).identity()
    assert "sampling" not in plain["estimator"] and "sharing_groups" not in plain["estimator"]
    cells = EstimateSettings(estimator=replace(OneShotConfig(method="random_ws"),
                                               sampling="cells")).identity()
    assert cells["estimator"]["sampling"] == "cells"
