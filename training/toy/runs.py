"""Rows × seeds of the toy tables as resumable jobs: one file per finished run, a pool of single-thread workers.

A run's file name holds a hash of its experiment settings and its row, so an interrupted job resumes where it
stopped, skipping finished runs, and changed settings never reuse old results. Code changes are not in the
hash: delete the store after changing a net, a loss or the training loop.
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from training.toy.data import Mnist
from training.toy.experiments import RowResult, Settings
from training.toy.fit import RunResult, train_run


@dataclass(frozen=True)
class Job:
    settings: Settings
    row: int  # index into settings.rows(data)
    seed: int
    path: Path

    @property
    def name(self) -> str:
        return f"{self.settings.tag} row {self.row} seed {self.seed}"


def job_path(store: Path, settings: Settings, row_repr: str, seed: int) -> Path:
    key = hashlib.sha1(f"{settings!r}|{row_repr}".encode()).hexdigest()[:12]
    return store / f"{settings.tag}-{key}" / f"seed{seed}.pt"


def save_run(result: RunResult, path: Path) -> None:
    """Write-then-rename, so a killed job never leaves a half-written run that would be skipped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(asdict(result), tmp)
    os.replace(tmp, path)


def load_run(path: Path) -> RunResult:
    return RunResult(**torch.load(path, weights_only=True))


@functools.cache
def _data(settings: Settings) -> Mnist:
    return settings.load()


def _train(job: Job) -> float:
    data = _data(job.settings)
    row = job.settings.rows(data)[job.row]
    result = train_run(
        job.settings.net, row.loss, data.train, data.test, job.settings.fit, job.seed, f"{job.name} · {row.name}"
    )
    save_run(result, job.path)
    return result.accuracy


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


@dataclass(frozen=True)
class Tables:
    experiments: list[list[RowResult]]  # per experiment of the plan, its rows with seeds 0..seeds-1 in order
    trained: int  # runs this call trained; the others were read back from the store


def run_tables(plan: list[tuple[Settings, int]], store: Path, workers: int = 1, threads: int = 1) -> Tables:
    """plan: (settings, seeds) per experiment. Trains every missing (row, seed) run, `workers` at a time (each
    with `threads` torch threads; 1 trains in this process), then reads every run back from the store."""
    tables: list[list[tuple[RowResult, list[Job]]]] = []
    for settings, seeds in plan:
        rows = settings.rows(_data(settings))
        table = []
        for index, row in enumerate(rows):
            jobs = [Job(settings, index, seed, job_path(store, settings, repr(row), seed)) for seed in range(seeds)]
            table.append((RowResult(row), jobs))
        tables.append(table)
    every = [job for table in tables for _, jobs in table for job in jobs]
    pending = [job for job in every if not job.path.exists()]
    bar = tqdm(total=len(every), initial=len(every) - len(pending), desc="runs", unit="run")
    if workers == 1:
        for job in pending:
            bar.set_postfix_str(f"last: {job.name} {_train(job):.2f} %")
            bar.update()
    elif pending:
        context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked OpenMP state
        with ProcessPoolExecutor(workers, context, initializer=_init_worker, initargs=(threads,)) as pool:
            futures = {pool.submit(_train, job): job for job in pending}
            for done in as_completed(futures):
                bar.set_postfix_str(f"last: {futures[done].name} {done.result():.2f} %")
                bar.update()
    bar.close()
    for table in tables:
        for result, jobs in table:
            result.runs = [load_run(job.path) for job in jobs]
    return Tables([[result for result, _ in table] for table in tables], len(pending))
