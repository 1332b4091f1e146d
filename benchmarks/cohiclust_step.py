"""Images per second of one CoHiClust training step (run on demand, not in CI).

One step, as in the tree phase of ``hc_lib.cohiclust.training``: two augmented views of a
batch (the batched augmentations of ``hc_lib.cohiclust.augment``), the forward pass of the
network, NT-Xent + CoHiLoss + 2^-T R1, the backward pass and the Adam update; float16
autocast with gradient scaling on CUDA. A throughput counts source images (each goes through
the network twice, as two views). The median over ``--repeats`` timed steps after
``--warmup`` untimed ones is reported.

    python benchmarks/cohiclust_step.py                   # CPU; CUDA too when available
    python benchmarks/cohiclust_step.py --devices cuda --cuda-batch 512

Writes ``results/benchmarks/cohiclust_step_<device>.json`` with provenance. CPU figures depend
on what else runs on the machine: the JSON records the load average next to them.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from hc_lib.cohiclust.augment import augmentation
from hc_lib.cohiclust.losses import cohi_loss, nt_xent, r1_regulariser
from hc_lib.cohiclust.model import CoHiClustNet
from hc_lib.cohiclust.soft_tree import node_masses
from hc_lib.records import provenance, write_json

ROOT = Path(__file__).resolve().parent.parent
# (name, backbone, channels, image side): ResNet-18 with the CIFAR stem on CIFAR-sized images,
# and the CPU profile's small CNN on Fashion-MNIST-sized and CIFAR-sized images
CONFIGS = [("resnet18-32", "resnet18", 3, 32), ("small-cnn-28", "small-cnn", 1, 28),
           ("small-cnn-32", "small-cnn", 3, 32)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(backbone: str, channels: int, size: int, batch: int, depth: int, device: torch.device,
              repeats: int, warmup: int) -> dict:
    torch.manual_seed(0)
    amp = device.type == "cuda"
    model = CoHiClustNet(backbone, depth, channels).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    augment = augmentation(size, generator=0)
    images = torch.randint(0, 256, (batch, channels, size, size), dtype=torch.uint8, device=device)
    model.train()

    def step():
        x = images.float() / 255
        views = torch.cat([augment(x), augment(x)])
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            p_left, z = model(views)
            masses = node_masses(p_left)
            loss = nt_xent(z) + cohi_loss(masses) + 2.0 ** -depth * r1_regulariser(masses)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(warmup):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    row = {"backbone": backbone, "channels": channels, "image_size": size, "batch_size": batch, "depth": depth,
           "amp": amp, "median_step_s": median, "images_per_s": batch / median, "views_per_s": 2 * batch / median,
           "steps_timed": repeats, "step_seconds": seconds}
    if device.type == "cuda":
        row["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda when available")
    parser.add_argument("--configs", nargs="+", default=[name for name, *_ in CONFIGS],
                        choices=[name for name, *_ in CONFIGS])
    parser.add_argument("--cpu-batch", type=int, default=64, help="source images per step on the CPU")
    parser.add_argument("--cuda-batch", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--output-dir", default=str(ROOT / "results" / "benchmarks"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    for name in devices:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("--devices cuda given but torch sees no CUDA device")
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        batches = [args.cpu_batch] if device.type == "cpu" else args.cuda_batch
        rows = []
        for config, backbone, channels, size in CONFIGS:
            if config not in args.configs:
                continue
            for batch in batches:
                row = {"config": config, **time_step(backbone, channels, size, batch, args.depth, device,
                                                     args.repeats, args.warmup)}
                rows.append(row)
                print(f"{name:>4} {config:>13} batch {batch:>4}: {row['images_per_s']:8.1f} images/s "
                      f"(median step {row['median_step_s']:.3f} s over {args.repeats})", flush=True)
        record = {"benchmark": "cohiclust_step", "device": name, "torch_threads": torch.get_num_threads(),
                  "load_average": os.getloadavg(), "rows": rows, "provenance": provenance(name)}
        path = write_json(Path(args.output_dir) / f"cohiclust_step_{device.type}.json", record)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
