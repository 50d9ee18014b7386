import pytest
import torch
import torch.nn.functional as F

from attacks import SUITES
from attacks.fgsm import FGSM, FGSMConfig
from attacks.occlusion import Occlusion
from attacks.semantic import Semantic
from benchmark.data import to_float
from benchmark.evaluator import evaluate
from benchmark.registry import THREAT_MODELS
from tests.conftest import Linear


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_fgsm_on_a_linear_model_equals_the_closed_form():
    model = Linear().eval()
    x = torch.rand(16, 3, 32, 32)
    y = torch.randint(0, 10, (16,))
    eps = 8 / 255
    # ∇ₓ CE(Wx + b, y) = Wᵀ(softmax(Wx + b) − onehot(y)) for each image.
    p = F.softmax(model(x), 1) - F.one_hot(y, 10).float()
    grad = (p @ model.fc.weight).view_as(x)
    expected = (x + eps * grad.sign()).clamp(0, 1)
    assert torch.allclose(FGSM(FGSMConfig(eps)).perturb(model, x, y, gen()), expected, atol=1e-6)


def test_fgsm_with_zero_eps_returns_the_input():
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(FGSM(FGSMConfig(0.0)).perturb(Linear(), x, torch.zeros(4, dtype=torch.long), gen()), x)


def test_occlusion_is_one_16x16_square_of_zeros_inside_the_image():
    x = torch.ones(200, 3, 32, 32)
    out = Occlusion().perturb(None, x, None, gen())
    zero = out[:, 0] == 0
    assert torch.equal(zero, (out == 0).all(1))  # all channels occluded together
    assert (zero.sum((1, 2)) == 256).all()
    rows, cols = zero.any(2), zero.any(1)
    assert (rows.sum(1) == 16).all() and (cols.sum(1) == 16).all()  # a 16×16 square: 16 rows × 16 columns
    tops = rows.float().argmax(1)
    assert len(tops.unique()) > 10  # positions are drawn, not fixed
    assert torch.equal(out, Occlusion().perturb(None, x, None, gen()))  # and seeded


def test_semantic_is_the_negative_image():
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(Semantic().perturb(None, x, None, gen()), 1 - x)


def test_paper_suite_is_registered():
    from attacks.clean import Clean

    assert SUITES["paper"] == ("clean", "fgsm", "occlusion", "semantic")
    # each name is filed to the class that implements that threat (not merely to some class)
    assert [THREAT_MODELS.get(n) for n in SUITES["paper"]] == [Clean, FGSM, Occlusion, Semantic]


def test_fgsm_eps0_equals_clean_and_accuracy_never_rises_with_eps(cifar, trained_linear):
    x, y = cifar.x_test[:1000], cifar.y_test[:1000]
    fgsms = [FGSM(FGSMConfig(e / 255)) for e in (0, 1, 2, 4, 8)]
    res = evaluate(trained_linear, [THREAT_MODELS.create("clean"), *fgsms], x, y, progress=False)
    acc = [res[t.label].accuracy for t in fgsms]
    assert res["clean"].accuracy > 0.25  # the model learned something (chance is 0.1)
    assert acc[0] == res["clean"].accuracy
    assert all(a >= b for a, b in zip(acc, acc[1:], strict=False))
    assert acc[-1] < 0.05  # a linear model has no defense against 8/255
    assert all(p.requires_grad for p in trained_linear.parameters())  # evaluation restores grads


def test_evaluator_puts_model_in_eval_mode_and_is_deterministic(cifar):
    from benchmark.models import build_model

    torch.manual_seed(0)
    model = build_model("resnet20").train()
    x, y = cifar.x_test[:64], cifar.y_test[:64]
    threats = [THREAT_MODELS.create(n) for n in SUITES["paper"]]
    a = evaluate(model, threats, x, y, batch_size=32, progress=False)
    assert not model.training
    b = evaluate(model, threats, x, y, batch_size=32, progress=False)
    for n in SUITES["paper"]:
        assert torch.equal(a[n].correct, b[n].correct) and a[n].n == 64
    with torch.no_grad():
        clean = (model(to_float(x)).argmax(1) == y).float().mean().item()
    assert a["clean"].accuracy == pytest.approx(clean)
