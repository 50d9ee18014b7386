import pytest
import torch
from torch import nn

from attacks import SUITES
from attacks.autoattack import Square, SquareConfig
from attacks.corruptions import CONSTANTS, CORRUPTIONS, corrupt
from attacks.fgsm import FGSM
from attacks.occlusion import Occlusion, WorstOcclusion
from attacks.pgd import PGD, PGDConfig
from attacks.semantic_hsv import SemanticHSV
from benchmark.data import to_float
from benchmark.evaluator import evaluate
from benchmark.masking import PGD_5X, PGD_EPS32, flag, masking_checks
from benchmark.registry import THREAT_MODELS
from benchmark.specs import build

# make_cifar_c.py (Hendrycks & Dietterich 2019), typed in independently of attacks/corruptions.py.
CIFAR10_C = {
    "gaussian_noise": [0.04, 0.06, 0.08, 0.09, 0.10],
    "shot_noise": [500, 250, 100, 75, 50],
    "impulse_noise": [0.01, 0.02, 0.03, 0.05, 0.07],
    "defocus_blur": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
    "glass_blur": [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
    "motion_blur": [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)],
    "zoom_blur": [(1, 1.06, 0.01), (1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.01), (1, 1.26, 0.01)],
    "snow": [(0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
             (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)],
    "frost": [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],
    "fog": [(0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)],
    "brightness": [0.05, 0.1, 0.15, 0.2, 0.3],
    "contrast": [0.75, 0.5, 0.4, 0.3, 0.15],
    "elastic_transform": [(0, 0, 2.56), (1.6, 6.4, 2.24), (2.56, 1.92, 1.92), (3.2, 1.28, 1.6), (3.2, 0.96, 0.96)],
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],
    "jpeg_compression": [80, 65, 58, 50, 40],
}
# By CIFAR-10-C's own constants these do not move further from the clean image at every step: elastic's
# affine jitter shrinks as its elastic part grows, glass blur's severity 3 has a wider blur than 4 with
# fewer swap passes, and frost trades image weight for frost weight (and uses our substitute texture).
NOT_MONOTONE = {"elastic_transform", "glass_blur", "frost"}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_corruption_list_and_constants_equal_cifar10c():
    assert list(CORRUPTIONS) == list(CIFAR10_C)
    for name, values in CIFAR10_C.items():
        # one severity at a time: pytest.approx takes flat sequences only (pytest ≥ 9 refuses nested ones)
        assert len(CONSTANTS[name]) == len(values) == 5, name
        for got, want in zip(CONSTANTS[name], values, strict=True):
            assert got == pytest.approx(want), (name, got, want)


@pytest.fixture(scope="module")
def images(cifar):
    return to_float(cifar.x_test[:200])


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_corruption_distance_grows_with_severity(images, name):
    d = [(corrupt(images, name, s, gen(s)) - images).abs().mean().item() for s in range(1, 6)]
    assert all(v > 0.003 for v in d), d  # every severity changes the image
    if name in NOT_MONOTONE:
        assert d[4] > 0.003
    else:
        assert all(b >= a - 0.002 for a, b in zip(d, d[1:], strict=False)), d  # motion 3→4 is flat by its constants
        assert d[4] > d[0] * 1.3, d


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_corruptions_are_seeded_quantised_and_in_range(images, name):
    a, b = corrupt(images[:8], name, 3, gen(1)), corrupt(images[:8], name, 3, gen(1))
    assert torch.equal(a, b) and a.shape == images[:8].shape
    assert a.min() >= 0 and a.max() <= 1
    assert torch.allclose(a * 255, torch.round(a * 255), atol=1e-3)  # uint8 levels, as CIFAR-10-C stores


def test_pgd_stays_in_the_eps_ball_and_the_unit_cube(trained_linear, cifar):
    x, y = to_float(cifar.x_test[:64]), cifar.y_test[:64]
    adv = PGD().perturb(trained_linear, x, y, gen())
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1


def test_pgd_is_at_least_as_strong_as_fgsm_on_a_linear_model(trained_linear, cifar):
    res = evaluate(trained_linear, [FGSM(build(THREAT_MODELS, "fgsm(eps=0.00784313725490196)").config),
                                    PGD(PGDConfig(eps=2 / 255, alpha=0.5 / 255))],
                   cifar.x_test[:1000], cifar.y_test[:1000], progress=False)
    fgsm, pgd = (r.accuracy for r in res.values())
    assert pgd <= fgsm and fgsm < 0.25


def test_early_stopping_pgd_breaks_every_image_the_last_iterate_breaks(trained_linear, cifar):
    """The early-stopping PGD against torchattacks' last-iterate PGD from the same seeded start: every image
    the reference breaks is broken here too, and an image never broken ends exactly where the reference does."""
    from attacks.base import predict

    x, y = to_float(cifar.x_test[:500]), cifar.y_test[:500]
    pgd = PGD(PGDConfig(eps=1 / 255, alpha=0.25 / 255, steps=10))  # small ε: many images survive
    ours = pgd.outcomes(trained_linear, x, y, gen(3))[""]
    reference = predict(trained_linear, pgd.perturb(trained_linear, x, y, gen(3))) == y
    assert not (ours & ~reference).any()  # correct here ⇒ correct for the reference: never weaker
    assert 0 < ours.sum() < len(y)
    # a larger step on the same images: any image the reference leaves correct but we break was fooled by an
    # earlier iterate, which the last-iterate score forgets
    strong = PGD(PGDConfig(eps=8 / 255, alpha=2 / 255, steps=10))
    assert strong.outcomes(trained_linear, x, y, gen(3))[""].float().mean() <= (
        predict(trained_linear, strong.perturb(trained_linear, x, y, gen(3))) == y).float().mean()


def test_autoattack_runs_only_on_the_images_pgd_left_and_counts_pgd_breaks(trained_linear, cifar, monkeypatch):
    """PGD-20 in front of AutoAttack: the images PGD breaks stay broken, AutoAttack sees exactly the others."""
    from attacks.autoattack import AutoAttack, AutoAttackConfig

    x, y = to_float(cifar.x_test[:300]), cifar.y_test[:300]
    eps = 1 / 255  # small: PGD leaves some images correct
    pgd_ok = PGD(PGDConfig(eps=eps, alpha=eps / 4)).outcomes(trained_linear, x, y, gen(5))[""]
    assert 0 < pgd_ok.sum() < len(y)
    seen = []

    def identity_attack(self, model, xs, ys, generator):  # an AutoAttack that breaks nothing
        seen.append(xs.clone())
        return xs

    monkeypatch.setattr(AutoAttack, "perturb", identity_attack)
    ok = AutoAttack(AutoAttackConfig(eps=eps)).outcomes(trained_linear, x, y, gen(5))[""]
    assert torch.equal(ok, pgd_ok)  # a PGD break is a break; AutoAttack's (none) add nothing
    assert torch.equal(seen[0], x[pgd_ok])  # AutoAttack attacked the survivors, and only them

    # an AutoAttack that turns every image it is given grey: a survivor is then correct iff grey is its class
    monkeypatch.setattr(AutoAttack, "perturb", lambda self, m, xs, ys, g: xs * 0 + 0.5)
    flipped = AutoAttack(AutoAttackConfig(eps=eps)).outcomes(trained_linear, x, y, gen(5))[""]
    grey = trained_linear(torch.full_like(x[:1], 0.5)).argmax(1).item()
    assert torch.equal(flipped, pgd_ok & (y == grey))  # survivors scored on what AutoAttack returned


def test_corrupted_sets_are_made_once_and_read_back_identically(trained_linear, cifar, monkeypatch):
    import attacks.corruptions as C

    x, y = to_float(cifar.x_test[:16]), cifar.y_test[:16]
    threat = C.Corruptions(C.CorruptionsConfig(severities=(2,)))
    g1 = gen(5)
    first = threat.outcomes(trained_linear, x, y, g1)
    # the same batch from the same generator state: read from the cache, nothing corrupted again
    monkeypatch.setattr(C, "corrupt", lambda *a: pytest.fail("corrupted again instead of read from the cache"))
    g2 = gen(5)
    again = threat.outcomes(trained_linear, x, y, g2)
    assert again.keys() == first.keys() and all(torch.equal(again[k], first[k]) for k in first)
    assert torch.equal(g1.get_state(), g2.get_state())  # the next batch draws exactly as without the cache
    assert len(first) == 1 + 15 and torch.equal(first["fog/2"], again["fog/2"])
    with pytest.raises(pytest.fail.Exception):  # another generator state is another set: made, not read
        threat.outcomes(trained_linear, x, y, gen(6))


def test_worst_case_occlusion_is_no_more_accurate_than_random(trained_linear, cifar):
    res = evaluate(trained_linear, [Occlusion(), WorstOcclusion()], cifar.x_test[:1000], cifar.y_test[:1000],
                   progress=False)
    assert res["occlusion-worst"].accuracy <= res["occlusion"].accuracy


def test_hsv_attack_keeps_the_value_channel(images):
    from attacks.color import hsv_to_rgb, rgb_to_hsv

    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(images)), images, atol=1e-5)  # round trip
    out = SemanticHSV.shift(images, torch.rand(len(images)), torch.rand(len(images)) * 2 - 1)
    assert torch.allclose(rgb_to_hsv(out)[:, 2], rgb_to_hsv(images)[:, 2], atol=1e-5)
    assert (out - images).abs().mean() > 0.05


def test_hsv_attack_is_worst_case_over_trials(trained_linear, cifar):
    one = build(THREAT_MODELS, "semantic-hsv(trials=1)")
    many = build(THREAT_MODELS, "semantic-hsv(trials=20)")
    res = evaluate(trained_linear, [one, many], cifar.x_test[:500], cifar.y_test[:500], progress=False)
    assert res[many.label].accuracy <= res[one.label].accuracy


class Quantised(nn.Module):
    """A deliberately gradient-masked model: 8-bit input quantisation with a zero gradient."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(torch.round(x * 255) / 255)


def masking_report(model, cifar):
    threats = [THREAT_MODELS.create("fgsm"), PGD(), build(THREAT_MODELS, PGD_EPS32), build(THREAT_MODELS, PGD_5X),
               Square(SquareConfig(n_queries=300, n_images=200))]
    res = evaluate(model, threats, cifar.x_test[:200], cifar.y_test[:200], progress=False)
    res["square"] = res.pop(threats[-1].label)  # a cheaper Square than the suite's, under the suite's name
    acc = {k: r.accuracy for k, r in res.items()}
    n = {k: r.n for k, r in res.items()}
    return masking_checks(acc, n, {"pgd": res["pgd"].correct.numpy()}, 200)


def test_gradient_masked_model_is_flagged_and_normal_model_is_not(trained_linear, cifar):
    normal = masking_report(trained_linear, cifar)
    assert len(normal) == 4 and flag(normal) == "ok", normal
    masked = masking_report(Quantised(trained_linear).eval(), cifar)
    assert flag(masked).startswith("⚠")
    assert not masked["PGD(ε=32/255) < 5%"] and not masked["Square ≥ PGD − 2 pts"]


def test_full_suite_names_every_threat():
    from attacks.autoattack import AutoAttack
    from attacks.clean import Clean
    from attacks.corruptions import Corruptions
    from attacks.semantic import Semantic
    from attacks.shape_bias import ShapeBias

    built = [build(THREAT_MODELS, spec) for spec in SUITES["full"]]
    assert [type(t) for t in built] == [Clean, FGSM, Occlusion, Semantic, PGD, AutoAttack, Square, Corruptions,
                                        SemanticHSV, WorstOcclusion, ShapeBias, PGD, PGD]
    # the two gradient-masking diagnostics: PGD at ε = 32/255 and PGD with 5× the steps, on the seeded 1k
    assert built[-2].config == PGDConfig(eps=32 / 255, n_images=1000)
    assert built[-1].config == PGDConfig(steps=100, n_images=1000)


def test_unavailable_threat_is_reported_not_fatal(cifar, tiny8, tmp_path, monkeypatch):
    from benchmark.runner import RunConfig, run
    from benchmark.stylizer import training

    monkeypatch.setattr(training, "PUBLISHED_DIR", tmp_path / "no-stylizers")  # no stylizer anywhere

    md = run(RunConfig(budget=tiny8, defenses=("baseline",), threats=("clean", "shape-bias"), out=tmp_path,
                       seeds=(0,), progress=False), data=cifar).read_text()
    assert "| `baseline`" in md and "## Threats not evaluated" in md
    assert "`shape-bias`: no cached 'standard' stylizer" in md
    assert "Failed runs" not in md


def test_a_failing_threat_loses_only_its_own_number(cifar, tiny8, tmp_path):
    from attacks.base import ThreatModel
    from benchmark.registry import register_threat
    from benchmark.runner import RunConfig, run

    @register_threat("test-broken-threat")
    class Broken(ThreatModel):
        def perturb(self, model, x, y, generator):
            raise RuntimeError("kaput")

    try:
        md = run(RunConfig(budget=tiny8, defenses=("baseline",), threats=("clean", "test-broken-threat"),
                           out=tmp_path, seeds=(0,), progress=False), data=cifar).read_text()
    finally:
        THREAT_MODELS.unregister("test-broken-threat")
    assert "| `baseline`" in md and "`test-broken-threat`: failed: RuntimeError: kaput" in md


def test_a_masking_cell_names_its_seeds_when_only_some_were_checked():
    from benchmark.masking import combine_flags

    # the full suite on seed 0 of a three-seed row: a bare "ok" would claim all three were checked
    assert combine_flags(["ok", "–", "–"], [0, 1, 2]) == "ok (s0)"
    assert combine_flags(["ok", "ok", "ok"], [0, 1, 2]) == "ok"
    assert combine_flags(["⚠ Square ≥ PGD − 2 pts", "–", "ok"], [0, 1, 2]) == "⚠ Square ≥ PGD − 2 pts (s0, s2)"
    assert combine_flags(["–", "–"], [0, 1]) == "–"
