"""AdaIN, the stylizer's loaders and cache, and the Stylized / Shape-Texture defenses."""

import hashlib

import pytest
import torch
import torch.nn.functional as F

from benchmark import stylizer as st
from benchmark.registry import DEFENSES
from benchmark.specs import build
from defenses.base import TrainingSet
from defenses.stylized import other_class_indices


def test_adain_alpha_one_takes_the_style_statistics_and_alpha_zero_is_the_content():
    g = torch.Generator().manual_seed(0)
    content = torch.randn(4, 8, 16, 16, generator=g) * 3 + 1
    style = torch.randn(4, 8, 16, 16, generator=g) * 0.5 - 2
    out = st.adain(content, style, alpha=1.0)
    (om, osd), (sm, ssd) = st.mean_std(out), st.mean_std(style)
    torch.testing.assert_close(om, sm, atol=1e-5, rtol=0)
    torch.testing.assert_close(osd, ssd, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(st.adain(content, style, alpha=0.0), content)
    half = st.adain(content, style, alpha=0.5)
    torch.testing.assert_close(half, 0.5 * out + 0.5 * content)


def test_style_loss_is_zero_for_equal_statistics_and_counts_mean_and_std():
    a = torch.randn(2, 3, 8, 8)
    assert st.style_loss([a], [a]).item() == 0.0
    shifted = a + 1.0  # means differ by exactly 1, stds equal
    assert st.style_loss([shifted], [a]).item() == pytest.approx(1.0, abs=1e-5)


class _StyleOnly:
    """A stand-in stylizer whose output is the style image itself."""

    info = {"name": "stub"}

    def stylize(self, content, style, alpha=1.0, bf16=False):
        return style.clone()


def test_shape_texture_loss_is_gamma_content_plus_one_minus_gamma_style():
    d = DEFENSES.create("shape-texture")
    d._stylizer = _StyleOnly()
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(6, 3, 32, 32, generator=g), torch.tensor([0, 1, 2, 3, 4, 5])
    xb, target = d.transform_batch(x, y, torch.Generator().manual_seed(1))
    assert xb.shape == (12, 3, 32, 32)
    logits = torch.randn(12, 10, generator=g)
    loss = F.cross_entropy(logits, target)  # what the trainer computes
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(xb[6:], x[perm])
    clean = F.cross_entropy(logits[:6], y)
    content = F.cross_entropy(logits[6:], y)
    style = F.cross_entropy(logits[6:], y[perm])
    torch.testing.assert_close(loss, 0.5 * (clean + 0.8 * content + 0.2 * style))


def test_other_class_indices_never_pick_the_same_class():
    labels = torch.arange(1000) % 10
    y = torch.randint(0, 10, (500,))
    idx = other_class_indices(labels, y, torch.Generator().manual_seed(0))
    assert (labels[idx] != y).all() and len(set(labels[idx].tolist())) == 10
    with pytest.raises(ValueError, match="another class"):
        other_class_indices(torch.zeros(5, dtype=torch.long), torch.zeros(3, dtype=torch.long),
                            torch.Generator().manual_seed(0))


def _write_fake_adain_weights(tmp_path):
    from benchmark.stylizer.networks import _adain_decoder, _vgg_normalised

    vgg, dec = _vgg_normalised(), _adain_decoder()
    full = dict(vgg.state_dict())
    full["40.weight"] = torch.zeros(512, 512, 3, 3)  # the release holds layers beyond relu4_1 too
    torch.save(full, tmp_path / "vgg_normalised.pth")
    torch.save(dec.state_dict(), tmp_path / "decoder.pth")
    return [hashlib.sha256((tmp_path / f).read_bytes()).hexdigest() for f in ("vgg_normalised.pth", "decoder.pth")]


def test_pretrained_loader_checks_sha256_and_stylizes_cifar_images(tmp_path):
    vgg_sha, dec_sha = _write_fake_adain_weights(tmp_path)
    with pytest.raises(st.StylizerError) as e:
        st.load_pretrained(tmp_path, "0" * 64, dec_sha)
    assert "vgg_normalised.pth: sha256" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(st.StylizerError, match="decoder.pth: sha256"):
        st.load_pretrained(tmp_path, vgg_sha, "f" * 64)
    with pytest.raises(st.StylizerError, match="no such file"):
        st.load_pretrained(tmp_path / "missing", vgg_sha, dec_sha)
    s = st.load_pretrained(tmp_path, vgg_sha, dec_sha)
    x = torch.rand(2, 3, 32, 32)
    out = s.stylize(x, x.flip(0))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert s.info["vgg_sha256"] == vgg_sha


def test_self_trained_stylizer_is_cached_and_reused(cifar, monkeypatch):
    x, y = cifar.x_train[:2048], cifar.y_train[:2048]
    first = st.self_trained("tiny", x, y, progress=False)
    assert st.cache_path(st.RECIPES["tiny"], st.data_fingerprint(x, y)).is_file()

    def no_training(*a, **k):
        raise AssertionError("the cached stylizer must be reused, not trained again")

    from benchmark.stylizer import training as module

    monkeypatch.setattr(module, "_train_encoder", no_training)
    monkeypatch.setattr(module, "_train_decoder", no_training)
    again = st.self_trained("tiny", x, y, progress=False)
    for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    assert again.info["seconds"] == first.info["seconds"] > 0
    with pytest.raises(st.StylizerError, match="unknown stylizer recipe 'nope'"):
        st.self_trained("nope", x, y)


def test_stylized_defense_keeps_labels_and_changes_images(cifar):
    d = DEFENSES.create("stylized")
    x, y = cifar.x_train[:2048], cifar.y_train[:2048]
    facts = d.prepare(TrainingSet(x, y, "smoke", progress=False))
    assert facts["stylizer"] == "self-trained-tiny" and facts["stylizer_seconds"] > 0
    xb = x[:32].float() / 255
    out, target = d.transform_batch(xb, y[:32], torch.Generator().manual_seed(0))
    assert torch.equal(target, y[:32]) and out.shape == xb.shape
    assert 0 <= out.min() and out.max() <= 1 and (out - xb).abs().mean() > 0.02
    half = build(DEFENSES, "stylized(fraction=0.5)")
    half.prepare(TrainingSet(x, y, "smoke", progress=False))
    out, _ = half.transform_batch(xb, y[:32], torch.Generator().manual_seed(0))
    assert torch.equal(out[16:], xb[16:]) and not torch.equal(out[:16], xb[:16])
    with pytest.raises(ValueError, match=r"stylized: fraction must be in \[0, 1\], got 1.5"):
        build(DEFENSES, "stylized(fraction=1.5)")


def test_shape_bias_counts_shape_and_texture_decisions_on_cue_conflict_images(cifar):
    from benchmark.registry import THREAT_MODELS

    st.self_trained("tiny", cifar.x_train[:2048], cifar.y_train[:2048], progress=False)
    threat = build(THREAT_MODELS, "shape-bias(recipe=tiny)")
    x, y = cifar.x_test[:200].float() / 255, cifar.y_test[:200]

    class Oracle(torch.nn.Module):  # answers the content label of whatever image it was shown last
        def forward(self, z):
            return F.one_hot(y[: len(z)], 10).float()

    out = threat.outcomes(Oracle(), x, y, torch.Generator().manual_seed(0))
    assert out[""].all() and not out["texture"].any()  # a pure shape decision maker: shape bias 1
    from attacks.shape_bias import shape_bias

    assert shape_bias(out[""].float().mean().item(), out["texture"].float().mean().item()) == 1.0


@pytest.mark.slow
def test_stylized_and_shape_texture_train_through_the_runner(cifar, tiny_budget, tmp_path):
    """The real path: trainer batches are channels_last, prepare() builds the stylizer, the entry records it."""
    from benchmark.results_store import ResultsStore
    from benchmark.runner import RunConfig, run

    run(RunConfig(budget=tiny_budget, defenses=("baseline", "stylized", "shape-texture"), threats=("clean",),
                  out=tmp_path, seeds=(0,), progress=False), data=cifar)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        runs = store.runs().set_index("defense")
    assert (runs.status == "done").all(), runs.error.to_dict()
    assert runs.loc["stylized", "stylizer"] == "self-trained-tiny" and runs.loc["stylized", "stylizer_seconds"] > 0
    # shape-texture forwards every batch twice (clean + cue-conflict)
    assert runs.loc["shape-texture", "train_images_seen"] == 2 * runs.loc["stylized", "train_images_seen"]
