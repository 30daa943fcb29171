"""Learning-rate schedules per optimizer step: linear warm-up, then the papers' step decay or cosine."""

from __future__ import annotations

import math
from dataclasses import dataclass

from training.config import ScheduleConfig


@dataclass(frozen=True)
class LrSchedule:
    """lr multiplier at an optimizer step: linear warm-up, then step decay at milestones, or cosine."""

    kind: str
    total_steps: int
    warmup_steps: int = 0
    milestone_steps: tuple[int, ...] = ()
    gamma: float = 0.1
    min_ratio: float = 0.0

    @classmethod
    def build(cls, cfg: ScheduleConfig, base_lr: float, steps_per_epoch: int, total_steps: int) -> LrSchedule:
        return cls(cfg.kind, total_steps, round(cfg.warmup_epochs * steps_per_epoch),
                   tuple(round(m * steps_per_epoch) for m in cfg.milestones), cfg.gamma, cfg.min_lr / base_lr)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.kind == "step":
            return self.gamma ** sum(step >= m for m in self.milestone_steps)
        done = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))
