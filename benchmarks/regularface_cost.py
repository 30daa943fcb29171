"""Time per call of the RegularFace term L_r (RF Eq. 9, forward + backward) against C, beside the ResNet20 step.

Its cost grows as C²·D (every class looks for its nearest other class), so the question is where it starts to
matter next to the backbone. Our tiled version (training.losses.regularface) holds at most chunk² cosines;
the dense version (a full C×C matrix with autograd, as the RegularFace README and pytorch-metric-learning
compute it) is timed for comparison up to --dense-max classes.

Usage: python benchmarks/regularface_cost.py [--classes 1000 5000 10000 20000] [--device cpu|cuda]
                                             [--dim 512] [--repeats 3] [--dense-max 10000] [--batch 64]
Writes benchmarks/results/regularface_cost.json, its section of docs/benchmarks.md and docs/regularface_cost.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import ROOT, machine, save_plot, write_json, write_section
from training.losses.regularface import exclusive_regularization
from training.nets import build_embedder

PLOT = ROOT / "docs" / "regularface_cost.png"


def dense_regularization(weight: torch.Tensor) -> torch.Tensor:
    """The C×C formulation, autograd through the whole matrix: the baseline the tiled version replaces."""
    unit = F.normalize(weight, dim=1)
    cos = unit @ unit.T
    return cos.masked_fill(torch.eye(len(cos), dtype=torch.bool, device=cos.device), -2.0).max(dim=1).values.mean()


def seconds_per_call(step: Callable[[], None], device: torch.device, repeats: int) -> float:
    """Mean wall time of `step` after one warm-up call (synchronised on CUDA)."""
    step()
    samples = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return sum(samples) / len(samples)


def regularizer_step(fn: Callable[[torch.Tensor], torch.Tensor], classes: int, args, device) -> Callable[[], None]:
    weight = torch.randn(classes, args.dim, device=device, requires_grad=True)

    def step() -> None:
        weight.grad = None
        fn(weight).backward()

    return step


def backbone_step(batch: int, device: torch.device) -> Callable[[], None]:
    net = build_embedder(seed=0).to(device).train()
    images = torch.randn(batch, 3, 112, 96, device=device)

    def step() -> None:
        net.zero_grad(set_to_none=True)
        net(images).square().mean().backward()

    return step


def measure(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    load_before = os.getloadavg()[0]
    tiled = lambda w: exclusive_regularization(w, args.chunk_size)
    backbone_ms = 1000 * seconds_per_call(backbone_step(args.batch, device), device, args.repeats)
    rows = []
    for classes in tqdm(args.classes, desc="L_r vs C"):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        row = {
            "classes": classes,
            "tiled_ms": 1000 * seconds_per_call(regularizer_step(tiled, classes, args, device), device, args.repeats),
        }
        if device.type == "cuda":
            row["tiled_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
        if classes <= args.dense_max:
            dense = regularizer_step(dense_regularization, classes, args, device)
            row["dense_ms"] = 1000 * seconds_per_call(dense, device, args.repeats)
        row["tiled_over_backbone"] = row["tiled_ms"] / backbone_ms
        rows.append({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
    return {
        "device": str(device), "dim": args.dim, "chunk_size": args.chunk_size, "repeats": args.repeats,
        "threads": torch.get_num_threads(), "backbone_batch": args.batch, "backbone_ms": round(backbone_ms, 1),
        "rows": rows, "machine": machine(),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }  # fmt: skip


def plot(result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog([r["classes"] for r in rows], [r["tiled_ms"] for r in rows], "o-", label="L_r tiled (ours)")
    dense = [r for r in rows if "dense_ms" in r]
    if dense:
        ax.loglog([r["classes"] for r in dense], [r["dense_ms"] for r in dense], "s--", label="L_r dense C×C")
    ax.axhline(result["backbone_ms"], color="grey", ls=":", label=f"ResNet20 fwd+bwd, batch {result['backbone_batch']}")
    ax.set_xlabel("classes C")
    ax.set_ylabel("ms per forward + backward")
    ax.set_title(f"RegularFace term cost, D={result['dim']}, {result['device']}")
    ax.legend()
    save_plot(fig, PLOT)
    plt.close(fig)


def markdown(result: dict, argv: list[str]) -> str:
    lines = [
        "## RegularFace term cost",
        "",
        f"`python benchmarks/regularface_cost.py {' '.join(argv)}` — L_r (RF Eq. 9) forward + backward on a random",
        (
            f"C×{result['dim']} fp32 W, device `{result['device']}` ({result['threads']} threads), mean of "
            f"{result['repeats']} calls after a warm-up. *Tiled* is `training.losses.regularface` (neighbour search in "
            f"{result['chunk_size']}² tiles without autograd, gradient through the gathered pairs only); *dense* builds "
            "the full C×C cosine matrix with autograd (the README / pytorch-metric-learning way). The backbone reference "
            f"is one ResNet20 training step (forward + backward, batch {result['backbone_batch']}, 112×96): "
            f"**{result['backbone_ms']} ms**. Cost grows as C²·D; plot: `docs/regularface_cost.png`. "
            f"1-minute load average {result['load_average_1min'][0]} before, {result['load_average_1min'][1]} after "
            "(a shared machine: indicative numbers)."
        ),
        "",
        "| C | tiled ms | dense ms | tiled / backbone step | peak MiB (cuda) |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['classes']} | {r['tiled_ms']} | {r.get('dense_ms', '—')} | "
                     f"{r['tiled_over_backbone']:.3f} | {r.get('tiled_peak_mib', '—')} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[1000, 5000, 10000, 20000])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--chunk-size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dense-max", type=int, default=10000, help="largest C for the dense baseline")
    parser.add_argument("--batch", type=int, default=64, help="backbone batch size")
    args = parser.parse_args()
    result = measure(args)
    write_json("regularface_cost", result)
    plot(result)
    write_section("regularface_cost", markdown(result, sys.argv[1:]))
    print(markdown(result, sys.argv[1:]))


if __name__ == "__main__":
    main()
