import hashlib

import numpy as np
import pytest
import torch

from benchmark.data import DataError, augment, load_npz, to_float


def write_npz(path, **overrides):
    arrays = {
        "x_train": np.zeros((20, 32, 32, 3), np.uint8), "y_train": np.arange(20) % 10,
        "x_test": np.zeros((10, 32, 32, 3), np.uint8), "y_test": np.arange(10),
    }
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


def test_real_cifar10_is_the_official_set(cifar):
    assert cifar.x_train.shape == (50000, 3, 32, 32) and cifar.x_train.dtype == torch.uint8
    assert cifar.x_test.shape == (10000, 3, 32, 32)
    assert int(cifar.y_train[0]) == 6 and int(cifar.y_test[0]) == 3
    assert torch.bincount(cifar.y_test).tolist() == [1000] * 10
    nhwc = cifar.x_test.permute(0, 2, 3, 1).contiguous().numpy()
    assert hashlib.md5(nhwc.tobytes()).hexdigest() == "6d2714505047e13831cd876923568712"


def test_valid_small_npz_loads(tmp_path):
    d = load_npz(write_npz(tmp_path / "ok.npz"))
    assert d.x_train.shape == (20, 3, 32, 32) and d.y_test.dtype == torch.int64


@pytest.mark.parametrize("overrides, words", [
    ({"y_test": None}, "missing key(s) y_test"),
    ({"x_train": np.zeros((20, 32, 32), np.uint8)}, "x_train has shape (20, 32, 32)"),
    ({"x_test": np.zeros((10, 3, 32, 32), np.uint8)}, "expected (N, 32, 32, 3) NHWC"),
    ({"x_train": np.zeros((20, 32, 32, 3), np.float32)}, "x_train has dtype float32, expected uint8"),
    ({"y_train": np.arange(20) % 11}, "labels in [0, 10], expected 0..9"),
    ({"y_test": np.arange(9)}, "y_test has shape (9,)"),
])
def test_malformed_npz_gets_one_line_error(tmp_path, overrides, words):
    with pytest.raises(DataError) as e:
        load_npz(write_npz(tmp_path / "bad.npz", **overrides))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_not_an_npz_and_missing_file(tmp_path):
    bad = tmp_path / "junk.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not an .npz archive"):
        load_npz(bad)
    with pytest.raises(DataError, match="no such file"):
        load_npz(tmp_path / "absent.npz")


def test_augment_is_a_per_image_padded_crop_with_optional_flip():
    x = torch.randint(0, 255, (64, 3, 32, 32), dtype=torch.uint8)
    out = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    found = set()
    for i in range(len(x)):
        matches = [(dy, dx, f) for dy in range(9) for dx in range(9) for f in (0, 1)
                   if torch.equal((padded[i].flip(2) if f else padded[i])[:, dy:dy + 32, dx:dx + 32], out[i])]
        assert matches, f"image {i} is not a crop of its padded (flipped) self"
        found.add(matches[0])
    assert len(found) > 20  # each image draws its own offsets
    assert {f for *_, f in found} == {0, 1}


def test_augment_is_seeded():
    x = torch.randint(0, 255, (8, 3, 32, 32), dtype=torch.uint8)
    a = augment(x, torch.Generator().manual_seed(3))
    b = augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_to_float_maps_uint8_to_unit_interval():
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2)
    assert to_float(x).tolist() == [[[[0.0, 1.0]]]]


def test_subset_is_seeded_and_sized(cifar):
    a, b = cifar.subset(100, 50, seed=1), cifar.subset(100, 50, seed=1)
    assert len(a.y_train) == 100 and len(a.y_test) == 50
    assert torch.equal(a.x_train, b.x_train)
