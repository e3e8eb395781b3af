"""protocol=paper reproduces the original NAS-Bench-1Shot1 code where this project differs from
it, and differs from protocol=fixed only where the README's protocol table says: the supernet's
pooling, head and batch-norm momentum, GDAS's samples, temperature and clipping, the cutout
schedule, the epochs per method (ENAS and Random-WS: tests/test_protocol_methods.py)."""

import json
from pathlib import Path

import pytest
import torch

from nasbench1shot1.conf.protocol import PAPER_EPOCHS, ProtocolConfig
from nasbench1shot1.config import compose, settings_from
from nasbench1shot1.methods import get_method
from nasbench1shot1.models.supernet import Supernet, SupernetConfig
from nasbench1shot1.search import build_search, cutout_probability, run
from nasbench1shot1.spaces import get_search_space

SMALL = ["logger=none", "supernet.channels=4", "supernet.num_cells=3", "device=cpu",
         "threads=1"]


def _flat(values, prefix=""):
    out = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("method", ["darts", "gdas", "pc_darts", "enas", "random_ws"])
def test_the_protocols_differ_only_where_the_table_says(method: str):
    fixed = settings_from(compose("search", [f"method={method}", "experiment=paper",
                                             "protocol=fixed"]))
    paper = settings_from(compose("search", [f"method={method}", "experiment=paper"]))
    a, b = _flat(fixed.as_dict()), _flat(paper.as_dict())
    differ = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
    assert {k for k in differ if not k.startswith("protocol.")} <= {"supernet.bn_momentum",
                                                                    "train.epochs"}
    assert paper.protocol == ProtocolConfig(
        name="paper", stack_pooling="padded", head="original", gdas_gumbel="per_cell",
        gdas_tau="epoch_start", gdas_clip_arch=True, enas="original", random_ws="original",
        cutout="ramp", lr_schedule="one_epoch_ahead")
    assert paper.supernet.bn_momentum == 0.997 and fixed.supernet.bn_momentum == 0.1
    assert paper.train.epochs == PAPER_EPOCHS[method] and fixed.train.epochs == 50
    # runs of this project's protocol keep the identity they had before protocols existed (their
    # run dirs store it, as every setting)
    assert "protocol" not in fixed.identity() and "protocol" in paper.identity()
    assert fixed.as_dict()["protocol"]["name"] == "fixed"
    # a value given on the command line wins over the protocol's
    mine = settings_from(compose("search", [f"method={method}", "experiment=paper",
                                            "train.epochs=7", "supernet.bn_momentum=0.2"]))
    assert (mine.train.epochs, mine.supernet.bn_momentum) == (7, 0.2)


def _maps(model: Supernet) -> list[int]:
    x = model.stem(torch.zeros(1, 3, 32, 32))
    sizes = [x.shape[-1]]
    for module in model.cells:
        x = module(x) if isinstance(module, torch.nn.MaxPool2d) else x
        if isinstance(module, torch.nn.MaxPool2d):
            sizes.append(x.shape[-1])
    return sizes


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("space", [1, 2, 3])
def test_the_papers_supernet_pools_with_padding_and_has_the_original_head(space: int):
    s = get_search_space(space)
    ours = Supernet(s, SupernetConfig())
    paper = Supernet(s, SupernetConfig(stack_pooling="padded", head="original",
                                       bn_momentum=0.997))
    assert _maps(ours) == [32, 16, 8] and _maps(paper) == [32, 17, 9]
    # the stem and the cells are the same; the head and the classifier are the original's
    assert _count(ours.stem) == _count(paper.stem)
    assert _count(ours.cells) == _count(paper.cells)
    blocks, c = s.num_choice_blocks, 4 * 16  # the last stack's channels
    assert _count(paper.head) == blocks * c * c  # 1x1 conv B*C -> C, batch norm not affine
    assert _count(ours.head) == (blocks * c) ** 2 + 2 * blocks * c
    assert paper.classifier.in_features == c and ours.classifier.in_features == blocks * c
    norms = [m for m in paper.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert {m.momentum for m in norms} == {0.997}
    assert not norms[-1].affine and all(m.affine for m in norms[:-1])
    logits = paper(torch.randn(2, 3, 32, 32), _uniform(paper, s))
    assert logits.shape == (2, 10)


def _uniform(model, space):
    method = get_method("darts")(space, model, {"arch_learning_rate": 3e-4,
                                                "arch_betas": [0.5, 0.999],
                                                "arch_weight_decay": 1e-3}, 10,
                                 torch.Generator().manual_seed(0))
    return method.soft_weights()


def _gdas(protocol: ProtocolConfig, epochs: int = 10):
    search = build_search(settings_from(compose("search", [
        "method=gdas", *SMALL, f"train.epochs={epochs}"])), echo=False)
    method = get_method("gdas")(search.space, search.model, search.settings.method.params(),
                                epochs, torch.Generator().manual_seed(0), protocol=protocol)
    return search, method


def test_gdas_of_the_paper_draws_a_sample_per_cell():
    _, shared = _gdas(ProtocolConfig())
    _, per_cell = _gdas(ProtocolConfig(gdas_gumbel="per_cell"))
    one = shared.train_weights()
    many = per_cell.train_weights()
    assert not isinstance(one, list)
    assert len(many) == 3  # supernet.num_cells
    ops = [tuple(w.op_index) for w in many]
    parents = [torch.cat(list(w.parents.values())) for w in many]
    assert len(set(ops)) > 1 or not torch.equal(parents[0], parents[1])  # distinct samples


def test_gdas_temperature_and_clipping_follow_the_protocol():
    epochs = 10
    _, ours = _gdas(ProtocolConfig(), epochs)
    _, paper = _gdas(ProtocolConfig(gdas_tau="epoch_start", gdas_clip_arch=True), epochs)
    for method in (ours, paper):
        method.epoch = epochs - 1
    tau_max, tau_min = ours.cfg["tau_max"], ours.cfg["tau_min"]
    assert ours.tau == pytest.approx(tau_min)
    assert paper.tau == pytest.approx(tau_max - (tau_max - tau_min) * (epochs - 1) / epochs)
    for method in (ours, paper):
        method.epoch = 0
        assert method.tau == pytest.approx(tau_max)
    # the architecture gradients: clipped to the weights' clip only under the paper's protocol
    for method in (ours, paper):
        for a in method.arch_parameters():
            a.grad = torch.ones_like(a)
        method.clip_arch_gradients(1e-3)
    norm = lambda m: torch.cat([a.grad.reshape(-1) for a in m.arch_parameters()]).norm()  # noqa: E731
    assert norm(paper) == pytest.approx(1e-3, rel=1e-3) and norm(ours) > 1.0


def test_gdas_per_cell_samples_train():
    search, method = _gdas(ProtocolConfig(gdas_gumbel="per_cell", gdas_clip_arch=True))
    train, valid = search.weight_batches()[0], search.arch_batches()[0]
    step = method.step(train, valid, search.optimizer, 0.025, 5.0)
    assert step.count == len(train.labels) and torch.isfinite(torch.tensor(step.loss))
    assert all(a.grad is not None for a in method.arch_parameters())


def test_the_papers_learning_rate_schedule_runs_one_epoch_ahead():
    import math

    def first_lr(protocol: str) -> float:
        search = build_search(settings_from(compose("search", [
            *SMALL, "train.epochs=4", f"protocol.lr_schedule={protocol}"])), echo=False)
        return search.optimizer.param_groups[0]["lr"]

    start, low = 0.025, 0.001  # train.learning_rate and learning_rate_min (conf/search.py)
    assert first_lr("per_epoch") == pytest.approx(start)
    assert first_lr("one_epoch_ahead") == pytest.approx(
        low + (start - low) * (1 + math.cos(math.pi / 4)) / 2)


def test_the_papers_cutout_probability_ramps_up():
    assert cutout_probability(0.8, 1, 5, "fixed") == 0.8
    assert [cutout_probability(0.8, e, 5, "ramp") for e in range(1, 6)] == \
        pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert cutout_probability(0.8, 1, 1, "ramp") == 0.8


@pytest.mark.timeout(300)
def test_a_search_under_the_papers_protocol_runs_and_resumes(tmp_path: Path):
    overrides = [*SMALL, "method=gdas", "protocol=paper", "train.epochs=2", "train.cutout=true",
                 "train.cutout_length=4"]
    result = run(compose("search", overrides), tmp_path, echo=False)
    assert result.status == "finished" and result.epochs_done == 2
    stored = json.loads((tmp_path / "result.json").read_text())["settings"]
    assert stored["protocol"]["name"] == "paper" and stored["supernet"]["bn_momentum"] == 0.997
    again = run(compose("search", overrides), tmp_path, echo=False)
    assert again.final_cell == result.final_cell
    with pytest.raises(ValueError, match="protocol"):
        run(compose("search", [*SMALL, "method=gdas", "train.epochs=2", "train.cutout=true",
                               "train.cutout_length=4"]), tmp_path, echo=False)


def test_a_bad_protocol_value_is_one_sentence():
    with pytest.raises(Exception, match=r"protocol.head must be nasbench101 or original"):
        settings_from(compose("search", ["protocol.head=fancy"]))
