"""The AdaIN authors' pretrained weights, each file checked against the SHA-256 the user states."""

from __future__ import annotations

import hashlib
from pathlib import Path

from benchmark import checkpoint
from benchmark.stylizer.adain import Stylizer, StylizerError
from benchmark.stylizer.networks import _adain_decoder, _vgg_normalised, _VggFeatures


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_pretrained(directory: str | Path, vgg_sha256: str, decoder_sha256: str) -> Stylizer:
    """The AdaIN authors' VGG-19 encoder and decoder from ``directory`` (``vgg_normalised.pth``,
    ``decoder.pth``), each checked against the stated SHA-256 and loaded with ``weights_only``."""
    directory = Path(directory)
    parts = {}
    for fname, want, build in (("vgg_normalised.pth", vgg_sha256, _vgg_normalised),
                               ("decoder.pth", decoder_sha256, _adain_decoder)):
        path = directory / fname
        if not path.is_file():
            raise StylizerError(f"{path}: no such file (get the AdaIN weights from "
                                "https://github.com/naoto0804/pytorch-AdaIN/releases)")
        got = sha256_file(path)
        if got != want.lower():
            raise StylizerError(f"{path}: sha256 {got} does not match the expected {want}")
        net = build()
        state = checkpoint.load(path)
        if fname == "vgg_normalised.pth":  # the release holds all of VGG-19; the encoder stops at relu4_1
            state = {k: v for k, v in state.items() if int(k.split(".")[0]) < len(net)}
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise StylizerError(f"{path}: not the AdaIN {fname} ({str(e).splitlines()[0][:150]})") from None
        parts[fname] = net
    info = {"name": "adain-vgg19-pretrained", "vgg_sha256": vgg_sha256, "decoder_sha256": decoder_sha256}
    return Stylizer(_VggFeatures(parts["vgg_normalised.pth"]), parts["decoder.pth"], info)
