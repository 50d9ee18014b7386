import copy

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.models import build_model, count_flops, count_params
from benchmark.registry import DEFENSES, RegistryError
from benchmark.specs import build
from defenses import pls
from defenses.base import ModelContext
from defenses.block_criteria import cka_scores, linear_cka, pls_gain_scores
from defenses.pruning import (
    PruneConfig,
    PruneFilters,
    PruneLayers,
    apply_step,
    prune_filters,
    removable,
    scratch_b_epochs,
    structures,
)
from defenses.pruning_criteria import CRITERIA, select_filters


def fake_ctx(images, labels, iterations=1, record=None, initial=None, epochs=3):
    def train(model, epochs, tag):
        if record is not None:
            record.append((tag, epochs, copy.deepcopy(model.state_dict())))
        return model

    return ModelContext(finetune=train, train=train, images=images, labels=labels, epochs=epochs, iterations=iterations,
                        finetune_epochs=1, seed=0, initial_state=initial)


def test_vip_squares_sum_to_the_number_of_features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 37))
    y = rng.integers(0, 10, 200)
    v = pls.vip(x, y)
    assert v.shape == (37,) and np.isclose((v**2).sum(), 37)


def test_pls_and_l1_rank_the_label_carrying_filters_highest():
    """Synthetic: a 1-layer net whose filters 0-3 see a label-dependent channel, the rest pure noise."""
    torch.manual_seed(0)
    n = 400
    labels = torch.randint(0, 10, (n,))
    images = torch.rand(n, 3, 8, 8) * 0.1
    images[:, 0] += (labels.float() / 10).view(n, 1, 1)  # channel 0 encodes the label

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 12, 1, bias=False), nn.BatchNorm2d(12)
            with torch.no_grad():
                self.conv.weight.zero_()
                self.conv.weight[:4, 0] = 1.0  # informative filters read channel 0 (planted large weights)
                self.conv.weight[4:, 1:] = 0.01 * torch.randn(8, 2, 1, 1)  # the rest read noise channels
            self.fc = nn.Linear(12, 10)

        def prunable_layers(self):
            return [(self.conv, self.bn)]

        def forward(self, x):
            return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))

    net = Net().eval()
    for name in ("pls", "l1"):
        s = CRITERIA.create(name).scores(net, net.prunable_layers(), images, labels)[0]
        assert set(torch.argsort(s, descending=True)[:4].tolist()) == {0, 1, 2, 3}, name


@pytest.mark.parametrize("criterion", ["l1", "expected-abs", "hrank", "kl", "pls"])
def test_every_criterion_scores_every_filter(cifar, criterion):
    torch.manual_seed(0)
    model = build_model("resnet20").eval()
    layers = model.prunable_layers()
    from benchmark.data import to_float

    scores = CRITERIA.create(criterion).scores(model, layers, to_float(cifar.x_train[:64]), cifar.y_train[:64])
    assert [len(s) for s in scores] == [conv.out_channels for conv, _ in layers]
    assert all(torch.isfinite(s).all() for s in scores)


def test_select_filters_per_layer_and_global():
    scores = [torch.tensor([5.0, 1.0, 3.0, 4.0, 2.0, 6.0, 7.0, 8.0, 9.0, 10.0]), torch.tensor([0.1, 0.2])]
    assert select_filters(scores, 0.2, global_threshold=False) == [[1, 4], []]
    # global: the int(0.25 * 12) = 3 lowest overall are 0.1, 0.2 and 1.0, but layer 2 keeps one filter,
    # so the third removal goes to the next lowest, 2.0
    assert select_filters(scores, 0.25, global_threshold=True) == [[1, 4], [0]]


def test_pruned_resnet20_is_smaller_and_still_trains(cifar):
    torch.manual_seed(0)
    model = build_model("resnet20")
    p0, f0 = count_params(model), count_flops(model)
    prune_filters(model, [list(range(0, conv.out_channels, 2)) for conv, _ in model.prunable_layers()])
    assert count_params(model) < p0 and count_flops(model) < f0
    assert [conv.out_channels for conv, _ in model.prunable_layers()] == [8] * 3 + [16] * 3 + [32] * 3
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    out = model.train()(x)
    assert out.shape == (4, 10)
    out.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in model.parameters())


def test_prune_filters_defense_removes_the_requested_fraction(cifar):
    from benchmark.data import to_float

    torch.manual_seed(0)
    model = build_model("resnet20")
    before = [conv.out_channels for conv, _ in model.prunable_layers()]
    d = build(DEFENSES, "prune-filters(criterion=l1)")
    rec = []
    out = d.transform_model(model, fake_ctx(to_float(cifar.x_train[:64]), cifar.y_train[:64], record=rec))
    after = [conv.out_channels for conv, _ in out.prunable_layers()]
    assert after == [c - int(0.1 * c) for c in before]
    assert [r[0] for r in rec] == ["prune0"]
    assert d.label == "prune-filters(criterion=l1)"


def test_linear_cka_known_answers():
    """x = (1, 2, 3), y = (1, 3, 2): centred x·y = 1, ‖x‖² = ‖y‖² = 2 → CKA = 1 / (2·2) = 0.25 (r² of r = 0.5)."""
    x, y = np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [3.0], [2.0]])
    assert linear_cka(x, y) == pytest.approx(0.25)
    rng = np.random.default_rng(0)
    f = rng.normal(size=(50, 6))
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert linear_cka(f, 3.0 * f @ q + 7.0) == pytest.approx(1.0)  # invariant to rotation, scale and shift


def _zero_branch(model, stage: int, index: int) -> None:
    """Make block (stage, index) compute relu(x) = x: its last batch norm outputs 0 (as the authors' CKA test)."""
    block = model.stages()[stage][index]
    bn = [m for m in block.modules() if isinstance(m, nn.BatchNorm2d)][-1]
    with torch.no_grad():
        bn.weight.zero_()
        bn.bias.zero_()


def test_cka_scores_a_block_that_computes_the_identity_zero_and_removes_it_first(cifar):
    from benchmark.data import to_float

    torch.manual_seed(0)
    model = build_model("resnet20").eval()
    _zero_branch(model, 1, 2)
    images, labels = to_float(cifar.x_train[:200]), cifar.y_train[:200]
    scores = cka_scores(model, removable(model), images, labels)
    assert scores[(1, 2)] == pytest.approx(0.0, abs=1e-12)
    assert min(v for b, v in scores.items() if b != (1, 2)) > 1e-4
    out = PruneLayers().transform_model(model, fake_ctx(images, labels))
    gone = [(i, j) for i, s in enumerate(out.stages()) for j, b in enumerate(s) if isinstance(b, nn.Identity)]
    assert gone == [(1, 2)]
    assert out.eval()(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_blocks_per_iteration_removes_that_many_and_keeps_a_block_per_stage(cifar):
    from benchmark.data import to_float

    torch.manual_seed(0)
    model = build_model("resnet20").eval()
    for b in ((0, 1), (0, 2), (2, 1)):
        _zero_branch(model, *b)  # the three lowest CKA scores, two of them in stage 0
    images, labels = to_float(cifar.x_train[:128]), cifar.y_train[:128]
    out = build(DEFENSES, "prune-layers(blocks_per_iteration=3)").transform_model(model, fake_ctx(images, labels))
    gone = sorted((i, j) for i, s in enumerate(out.stages()) for j, b in enumerate(s) if isinstance(b, nn.Identity))
    assert gone == [(0, 1), (0, 2), (2, 1)]
    # stage 0 is now down to one block: asking for 6 more removes only the 3 left in stages 1 and 2
    out = build(DEFENSES, "prune-layers(blocks_per_iteration=6)").transform_model(out, fake_ctx(images, labels))
    assert [sum(not isinstance(b, nn.Identity) for b in s) for s in out.stages()] == [1, 1, 1]


def test_pls_gain_is_an_option_and_an_unknown_layer_criterion_is_one_line(cifar):
    from benchmark.data import to_float

    torch.manual_seed(0)
    model = build_model("resnet20").eval()
    images, labels = to_float(cifar.x_train[:200]), cifar.y_train[:200]
    scores = pls_gain_scores(model, removable(model), images, labels)
    worst = min(scores, key=lambda b: (scores[b], b))
    out = build(DEFENSES, "prune-layers(layer_criterion=pls-gain)").transform_model(model, fake_ctx(images, labels))
    gone = [(i, j) for i, s in enumerate(out.stages()) for j, b in enumerate(s) if isinstance(b, nn.Identity)]
    assert gone == [worst]
    with pytest.raises(RegistryError, match="unknown layer_criterion 'vip'; available: cka, pls-gain"):
        build(DEFENSES, "prune-layers(layer_criterion=vip)")


def test_iterations_override_the_budget_and_the_control_fine_tunes_the_same_way(cifar):
    from benchmark.data import to_float

    images, labels = to_float(cifar.x_train[:128]), cifar.y_train[:128]
    calls: dict[str, list] = {}
    for spec in ("prune-filters(criterion=l1,iterations=3)", "finetune-only(iterations=3)"):
        torch.manual_seed(0)
        model = build_model("resnet20").eval()
        rec: list = []
        out = build(DEFENSES, spec).transform_model(model, fake_ctx(images, labels, iterations=1, record=rec))
        calls[spec] = [(tag, epochs) for tag, epochs, _ in rec]
        if spec.startswith("finetune"):
            assert count_params(out) == count_params(build_model("resnet20"))  # nothing removed
    assert calls["finetune-only(iterations=3)"] == calls["prune-filters(criterion=l1,iterations=3)"] == [
        ("prune0", 1), ("prune1", 1), ("prune2", 1)]
    rec = []
    DEFENSES.create("finetune-only").transform_model(build_model("resnet20"), fake_ctx(images, labels, 2, rec))
    assert [t for t, _, _ in rec] == ["prune0", "prune1"]  # default: the budget's iterations
    for spec in ("prune-layers(iterations=2,finetune_epochs=3)", "finetune-only(iterations=2,finetune_epochs=3)"):
        rec = []  # finetune_epochs overrides the budget's epochs per round (the ctx says 1), for both alike
        build(DEFENSES, spec).transform_model(build_model("resnet20").eval(), fake_ctx(images, labels, 1, rec))
        assert [(t, e) for t, e, _ in rec] == [("prune0", 3), ("prune1", 3)], spec


def test_runs_that_differ_only_in_iterations_share_their_fine_tunes(tiny8):
    from benchmark.job import Job, RunConfig

    cfg = RunConfig(budget=tiny8)

    def ckpt(spec: str, tag: str):
        return Job(cfg, spec, "resnet8", 0, (512, 256))._retrain_ckpt(tag)

    assert ckpt("prune-filters(iterations=2)", "prune1") == ckpt("prune-filters(iterations=5)", "prune1") \
        == ckpt("prune-filters", "prune1")
    assert ckpt("prune-filters(iterations=2)", "prune1").name.startswith("resnet8-smoke-s0-prune-filters-")
    assert ckpt("prune-filters(iterations=2)", "prune1") != ckpt("prune-layers(iterations=2)", "prune1")
    assert ckpt("prune-filters(iterations=2)", "prune1") != ckpt("finetune-only(iterations=2)", "prune1")
    assert ckpt("prune-filters(iterations=2,finetune_epochs=1)", "prune1") == ckpt(
        "prune-filters(iterations=4,finetune_epochs=1)", "prune1") != ckpt("prune-filters(iterations=2)", "prune1")
    assert ckpt("prune-filters(iterations=2,adjustment=scratch-e)", "scratch-e") != ckpt(
        "prune-filters(iterations=3,adjustment=scratch-e)", "scratch-e")  # the retraining itself is not shared
    # the chain before the adjustment is the fine-tune row's, whatever comes after the last iteration
    for adj in ("scratch-e", "scratch-b", "w-ticket"):
        assert ckpt(f"prune-filters(adjustment={adj},iterations=6)", "prune4") == ckpt(
            "prune-filters(iterations=6)", "prune4") != ckpt(f"prune-filters(adjustment={adj},iterations=6)",
                                                           "scratch-e")
    assert ckpt("prune-filters(adjustment=scratch-b,iterations=6,criterion=l1)", "prune4") != ckpt(
        "prune-filters(adjustment=scratch-b,iterations=6)", "prune4")  # another criterion: another chain


def test_prune_both_removes_filters_and_a_block_for_every_seed(cifar):
    from benchmark.data import to_float

    assert structures("filters", 3, 0) == ["filters"] * 3 and structures("layers", 2, 5) == ["layers"] * 2
    starts = {structures("both", 2, seed)[0] for seed in range(10)}
    assert starts == {"filters", "layers"}  # the seeded coin picks the start
    assert all(sorted(structures("both", 2, seed)) == ["filters", "layers"] for seed in range(10))
    assert structures("both", 5, 0)[::2] == [structures("both", 5, 0)[0]] * 3  # alternation
    torch.manual_seed(0)
    model = build_model("resnet20").eval()
    images, labels = to_float(cifar.x_train[:128]), cifar.y_train[:128]
    out = build(DEFENSES, "prune-both(criterion=l1)").transform_model(model, fake_ctx(images, labels, iterations=2))
    assert sum(isinstance(b, nn.Identity) for s in out.stages() for b in s) == 1  # one block removed
    # and 10% of the filters of each of the 8 remaining blocks (16 → 15, 32 → 29, 64 → 58)
    widths = [conv.out_channels for conv, _ in out.prunable_layers()]
    assert len(widths) == 8 and set(widths) <= {15, 29, 58}


def test_layer_pruning_keeps_one_block_per_stage():
    model = build_model("resnet20")
    for _ in range(6):
        i, j = removable(model)[0]
        apply_step(model, ("blocks", [(i, j)]))
    assert removable(model) == []
    assert all(any(not isinstance(b, nn.Identity) for b in s) for s in model.stages())


def test_w_ticket_weights_equal_the_initial_ones_before_retraining(cifar):
    from benchmark.data import to_float

    torch.manual_seed(0)
    model = build_model("resnet20")
    initial = copy.deepcopy(model.state_dict())
    with torch.no_grad():  # "training" moves every weight away from its initial value
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    rec = []
    d = PruneFilters(PruneConfig(criterion="l1", adjustment="w-ticket"))
    out = d.transform_model(model, fake_ctx(to_float(cifar.x_train[:64]), cifar.y_train[:64], record=rec,
                                            initial=initial, epochs=7))
    tag, epochs, state = rec[-1]
    assert tag == "w-ticket" and epochs == 7
    # Every surviving weight equals the initial weight at the surviving index.
    kept = [c.weight.shape[0] for c, _ in out.prunable_layers()]
    assert kept == [15] * 3 + [29] * 3 + [58] * 3
    for name, w in state.items():
        w0 = initial[name]
        if w.shape == w0.shape:
            assert torch.equal(w, w0), name
    surviving_rows = state["layer1.0.conv1.weight"]
    assert all(any(torch.equal(r, r0) for r0 in initial["layer1.0.conv1.weight"]) for r in surviving_rows)


def test_scratch_b_epochs_follow_the_flops_ratio():
    assert scratch_b_epochs(12, 82e6, 41e6) == 24
    assert scratch_b_epochs(12, 82e6, 70e6) == 14  # 14.06 rounds to 14
    assert scratch_b_epochs(200, 100.0, 100.0) == 200


def test_scratch_e_reinitialises_and_trains_as_long_as_the_parent(cifar):
    from benchmark.data import to_float

    torch.manual_seed(0)
    model = build_model("resnet20")
    rec = []
    trained = copy.deepcopy(model.state_dict())
    d = PruneFilters(PruneConfig(criterion="l1", adjustment="scratch-e"))
    d.transform_model(model, fake_ctx(to_float(cifar.x_train[:64]), cifar.y_train[:64], record=rec, epochs=9))
    tag, epochs, state = rec[-1]
    assert tag == "scratch-e" and epochs == 9
    assert not torch.equal(state["conv1.weight"], trained["conv1.weight"])


def test_bad_pruning_config_is_one_line():
    from benchmark.registry import RegistryError

    with pytest.raises(RegistryError, match="unknown adjustment 'nope'"):
        build(DEFENSES, "prune-filters(adjustment=nope)")
    with pytest.raises(RegistryError, match="unknown pruning criterion 'x'"):
        build(DEFENSES, "prune-filters(criterion=x)")
    with pytest.raises(RegistryError, match="unknown parameter 'size'"):
        build(DEFENSES, "prune-layers(size=3)")
