"""Time per training step of the student ResNet20 at each width, measured side by side: what a wider student costs.

One step is what the distillation recipe does per batch on the backbone: forward, backward and an SGD update of
the ResNet20 (training.nets) on a batch of 112×96 crops. The losses' heads, the teacher's cached vectors and data
loading are left out: they cost the same at every width, so the difference between widths is the backbone's.
Widths are timed in rounds, each round timing every width once in alternating order, so machine noise hits all
alike; the ratio to the first width is the median of the per-round ratios.

Usage: python benchmarks/student_width_cost.py [--widths 0.25 0.5] [--batch 128] [--rounds 10] [--threads 2]
Writes benchmarks/results/student_width_cost.json and its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import machine, write_json, write_section
from training.nets import build_embedder

NAME = "student_width_cost"


class WidthStep:
    """One SGD step of a seeded ResNet20 of the given width on a fixed random batch (N, 3, 112, 96)."""

    def __init__(self, width: float, batch: int) -> None:
        self.net = build_embedder(seed=0, width=width).train()
        self.optimiser = torch.optim.SGD(self.net.parameters(), lr=0.01, momentum=0.9)
        self.images = torch.randn(batch, 3, 112, 96, generator=torch.Generator().manual_seed(0))

    def __call__(self) -> float:
        """Seconds for one step."""
        start = time.perf_counter()
        self.optimiser.zero_grad(set_to_none=True)
        self.net(self.images).square().mean().backward()
        self.optimiser.step()
        return time.perf_counter() - start


def measure(widths: list[float], batch: int, rounds: int) -> dict:
    steps = [WidthStep(width, batch) for width in widths]
    for step in steps:  # warm-up: first calls allocate and pick kernels
        step()
    seconds: list[list[float]] = [[] for _ in widths]
    load_before = os.getloadavg()[0]
    for r in tqdm(range(rounds), desc="rounds"):
        order = range(len(steps)) if r % 2 == 0 else reversed(range(len(steps)))
        for i in order:
            seconds[i].append(steps[i]())
    rows = []
    for width, step, times in zip(widths, steps, seconds, strict=True):
        ratios = [t / t0 for t, t0 in zip(times, seconds[0], strict=True)]
        rows.append({
            "width": width,
            "parameters": sum(p.numel() for p in step.net.parameters()),
            "median_ms": round(1000 * statistics.median(times), 1),
            "min_ms": round(1000 * min(times), 1),
            "ratio_to_first": round(statistics.median(ratios), 2),
        })
    return {"batch": batch, "rounds": rounds, "threads": torch.get_num_threads(), "rows": rows,
            "machine": machine(), "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def markdown(result: dict, argv: list[str]) -> str:
    first = result["rows"][0]["width"]
    lines = [
        "## Student width: cost of a training step",
        "",
        f"`python benchmarks/student_width_cost.py {' '.join(argv)}` — one SGD step (forward, backward, update) of the "
        f"ResNet20 student on a batch of {result['batch']} random 112×96 crops, {result['threads']} threads, "
        f"{result['rounds']} rounds timing every width once each in alternating order after a warm-up. Heads, teacher "
        "vectors and data loading are left out (the same at every width). 1-minute load average "
        f"{result['load_average_1min'][0]} before, {result['load_average_1min'][1]} after.",
        "",
        f"| width | parameters | median ms / step | fastest ms / step | × width {first:g} (median of rounds) |",
        "|---|---|---|---|---|",
        *(f"| {r['width']:g} | {r['parameters']:,} | {r['median_ms']} | {r['min_ms']} | {r['ratio_to_first']} |"
          for r in result["rows"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=float, nargs="+", default=[0.25, 0.5], help="the first is the reference")
    parser.add_argument("--batch", type=int, default=128, help="the recipe's batch")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the recipe uses every core)")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(args.threads)
    result = measure(args.widths, args.batch, args.rounds)
    write_json(NAME, result)
    write_section(NAME, markdown(result, argv))
    for row in result["rows"]:
        print(f"width {row['width']:g}: {row['median_ms']} ms/step, x{row['ratio_to_first']}")


if __name__ == "__main__":
    main()
