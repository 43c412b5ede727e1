"""How long ResNet-50 training takes: seconds per epoch on a device vs the CPU, same run.

    python -m benchmarks.train_resnet_timing --device cuda --images 512 --epochs 3 --json OUT

Uses a generated folder of noise images (8 labels, ``--images`` in all): the speed of one
epoch does not depend on what the pictures show. The CPU baseline runs one epoch on
``--cpu-images`` images and is scaled per image.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from analytics.train_resnet import TrainConfig, train_resnet
from benchmarks.peer_common import write_json
from brandmood.core.types import EMOTIONS


def make_folder(root: Path, n: int, size: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        label = EMOTIONS[i % len(EMOTIONS)].value
        (root / label).mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / label / f"p{i % 17}-{i}.jpg")
    return root


def per_image_epoch_seconds(device: str, n: int, epochs: int, size: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        data = make_folder(Path(tmp) / "data", n, size)
        cfg = TrainConfig(epochs=epochs, batch_size=32, input_size=size, pretrained=False,
                          patience=epochs, device=device)
        t0 = time.perf_counter()
        report = train_resnet(data, Path(tmp) / "out", cfg)
        seconds = time.perf_counter() - t0
    return seconds / (report.epochs_run * n)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--cpu-images", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--json", type=Path, required=True)
    a = p.parse_args(argv)
    import torch

    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"error: device {a.device} is not available here (torch sees no CUDA device)",
              file=sys.stderr)
        return 2
    dev = per_image_epoch_seconds(a.device, a.images, a.epochs, a.size)
    cpu = per_image_epoch_seconds("cpu", a.cpu_images, 1, a.size)
    name = torch.cuda.get_device_name(0) if a.device.startswith("cuda") else a.device
    out = {"device": name, "device_s_per_image_epoch": dev, "cpu_s_per_image_epoch": cpu,
           "cpu_threads": torch.get_num_threads(), "speedup": cpu / dev,
           "input_size": a.size, "seconds_per_epoch_1000_faces": {"device": dev * 1000,
                                                                  "cpu": cpu * 1000}}
    print(json.dumps(out, indent=2))
    write_json(a.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
