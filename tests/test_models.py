import pytest
import torch

from benchmark.data import MEAN
from benchmark.models import (
    build_model,
    conform_to_state_dict,
    count_flops,
    count_params,
    cpu_latency_ms,
    remove_block,
)


@pytest.mark.parametrize("arch, params", [("resnet20", 0.27e6), ("resnet56", 0.86e6), ("mobilenetv2", 2.3e6)])
def test_models_output_logits_and_have_published_sizes(arch, params):
    model = build_model(arch).eval()
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert abs(count_params(model) - params) / params < 0.05


def test_resnet20_flops_match_he_et_al():
    # ResNet-20 is ~41 M multiply-adds per 32×32 image (He et al. 2016): ~82 MFLOPs.
    assert 78e6 < count_flops(build_model("resnet20")) < 86e6


def test_normalisation_is_inside_the_model():
    model = build_model("resnet20")
    mean_image = torch.tensor(MEAN).view(1, 3, 1, 1).expand(1, 3, 32, 32)
    assert torch.allclose(model.normalize(mean_image), torch.zeros(1, 3, 32, 32), atol=1e-6)


def test_unknown_architecture_lists_valid_ones():
    with pytest.raises(ValueError,
                       match="unknown architecture 'vgg'; available: resnet8, resnet20, resnet56, mobilenetv2"):
        build_model("vgg")


def test_architecture_knowledge_for_pruning():
    r20 = build_model("resnet20")
    assert len(r20.prunable_layers()) == 9
    assert r20.removable_blocks() == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2)]
    mb = build_model("mobilenetv2")
    assert len(mb.prunable_layers()) == 17
    assert len(mb.removable_blocks()) == 10


def test_block_removal_round_trips_through_a_state_dict():
    torch.manual_seed(0)
    model = build_model("resnet20").eval()
    remove_block(model, 1, 2)
    with pytest.raises(ValueError, match="no identity shortcut"):
        remove_block(model, 1, 0)
    x = torch.rand(2, 3, 32, 32)
    fresh = conform_to_state_dict(build_model("resnet20"), model.state_dict())
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.eval()(x), model(x))
    assert count_params(fresh) == count_params(model) < count_params(build_model("resnet20"))


def test_latency_is_the_fastest_timing_so_a_busy_machine_does_not_inflate_it(monkeypatch):
    # 30 timed forward passes: 20 slowed to 600 ms by another process, 10 at the network's own 2 ms. The
    # median (the old estimate) reads 600; the minimum reads 2. Warm-up passes run before the clock is read.
    import time

    state = {"now": 0.0, "timed": False, "durations": iter([0.6] * 20 + [0.002] * 10)}

    def clock() -> float:
        state["timed"] = True
        return state["now"]

    class Net(torch.nn.Module):
        def forward(self, x):
            if state["timed"]:
                state["now"] += next(state["durations"])
            return x

    monkeypatch.setattr(time, "perf_counter", clock)
    assert cpu_latency_ms(Net(), repeats=30) == pytest.approx(2.0)
