import pytest
import torch

from benchmark.conformance import SubmissionError, check_batch, check_transform_model
from benchmark.registry import DEFENSES, THREAT_MODELS, RegistryError, register_defense
from defenses.base import Defense, TrainingSet
from defenses.cutmix import CutMix, CutMixConfig
from defenses.cutout import Cutout, CutoutConfig
from defenses.mixup import MixUp


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def coded_batch(n=10):
    """Image i is the constant (i + 1) / 20 and has label i: mixed pixels reveal their sources."""
    x = ((torch.arange(n, dtype=torch.float32) + 1) / 20).view(n, 1, 1, 1).expand(n, 3, 32, 32).clone()
    return x, torch.arange(n)


@pytest.mark.parametrize("name", DEFENSES.names())
def test_every_registered_defense_conforms(name, cifar):
    """The one conformance suite `submit` uses, run on every built-in defense (after its prepare())."""
    defense = DEFENSES.create(name)
    check_batch(defense, TrainingSet(cifar.x_train[:2048], cifar.y_train[:2048], "smoke", False))
    check_transform_model(defense, "resnet20")


def _raise(x, y):
    raise RuntimeError("cuda only")


@pytest.mark.parametrize("hook, message", [
    (lambda x, y: (x + 2, y), "transform_batch returned images outside [0, 1] or not finite"),
    (lambda x, y: (x, y.float()), "a soft target must be (M, 10) probabilities summing to 1"),
    (lambda x, y: (x, y + 10), "targets must be int64 labels in [0, 10) or (M, 10) probabilities"),
    (lambda x, y: (x[:, :1], y), "transform_batch returned images (16, 1, 32, 32) torch.float32 and target (16,); "
                                 "expected (M, 3, 32, 32) torch.float32 and M targets"),
    (lambda x, y: (torch.rand(x.shape), y), "transform_batch is not reproducible from its generator"),
    (_raise, "transform_batch raised RuntimeError: cuda only"),
])
def test_the_conformance_suite_refuses_each_kind_of_bad_batch(hook, message):
    class Bad(Defense):
        name = "bad"

        def transform_batch(self, x, y, generator):
            return hook(x, y)

    with pytest.raises(SubmissionError) as e:
        check_batch(Bad())
    assert str(e.value).startswith(f"bad: {message}")


def test_unknown_defense_lists_registered_names():
    with pytest.raises(RegistryError) as e:
        DEFENSES.get("nope")
    msg = str(e.value)
    assert msg.startswith("unknown defense 'nope'; available: ") and "baseline" in msg and "cutmix" in msg
    with pytest.raises(RegistryError, match="unknown threat model 'pgdd'"):
        THREAT_MODELS.get("pgdd")


def test_duplicate_and_wrong_base_registrations_raise():
    with pytest.raises(RegistryError, match="already registered"):
        @register_defense("cutout")
        class Other(Defense):
            pass
    with pytest.raises(RegistryError, match="not a subclass of Defense"):
        register_defense("plain")(object)
    assert DEFENSES.get("cutout") is Cutout


def test_mixup_mixes_images_and_labels_with_one_lambda():
    x, y = coded_batch()  # label i == index i, so the target row names the partner
    xm, t = MixUp().transform_batch(x, y, gen(3))
    assert torch.allclose(t.sum(1), torch.ones(10))
    lam = t.diagonal()
    moved = lam < 1
    assert moved.any() and torch.allclose(lam[moved], lam[moved][0].expand(int(moved.sum())))  # one λ
    for i in range(10):
        j = int((t[i] - torch.eye(10)[i] * 2).argmax()) if moved[i] else i
        assert torch.allclose(xm[i], lam[i] * x[i] + (1 - lam[i]) * x[j], atol=1e-6)


def test_mixup_with_lambda_one_returns_its_input(monkeypatch):
    import defenses.mixup as m

    class One:
        def beta(self, a, b):
            return 1.0

    monkeypatch.setattr(m, "numpy_rng", lambda g: One())
    x, y = coded_batch()
    xm, t = MixUp().transform_batch(x, y, gen())
    assert torch.equal(xm, x) and torch.equal(t, torch.eye(10))


def test_cutmix_lambda_equals_unmasked_area():
    x, y = coded_batch()
    for seed in range(10):
        xm, t = CutMix(CutMixConfig(prob=1.0)).transform_batch(x, y, gen(seed))
        assert torch.allclose(t.sum(1), torch.ones(10))
        for i in range(10):
            own = (xm[i, 0] == x[i, 0, 0, 0]).float().mean()
            if t[i, i] < 1:  # partner is another image
                assert t[i, i].item() == pytest.approx(own.item(), abs=1e-6)


def test_cutmix_probability_zero_is_identity():
    x, y = coded_batch()
    xm, t = CutMix(CutMixConfig(prob=0.0)).transform_batch(x, y, gen())
    assert torch.equal(xm, x) and torch.equal(t, y)


def test_cutout_makes_one_clipped_square_hole_of_the_mean_colour():
    x = torch.ones(500, 3, 32, 32)
    out, y = Cutout().transform_batch(x, torch.zeros(500, dtype=torch.long), gen())
    hole = out[:, 0] != 1
    area = hole.sum((1, 2))
    rows, cols = hole.any(2).sum(1), hole.any(1).sum(1)
    assert torch.equal(area, rows * cols)  # a rectangle
    assert rows.max() == 16 and cols.max() == 16 and (area == 256).any()
    assert (area < 256).any()  # clipped at the borders (centre uniform over the image)
    assert (area > 0).all()
    # the authors cut normalised images, so their hole is the CIFAR-10 mean colour, not black
    for c, mean in enumerate((0.4914, 0.4822, 0.4465)):
        assert torch.allclose(out[:, c][hole], torch.tensor(mean))


def test_cutout_fill_zero_is_the_black_occlusion_patch():
    x = torch.ones(50, 3, 32, 32)
    mean, _ = Cutout().transform_batch(x, torch.zeros(50, dtype=torch.long), gen())
    zero, _ = Cutout(CutoutConfig(fill="zero")).transform_batch(x, torch.zeros(50, dtype=torch.long), gen())
    assert torch.equal(zero == 0, mean != 1)  # the same holes from the same draws, painted black
    assert Cutout(CutoutConfig(fill="zero")).label == "cutout(fill=zero)"
