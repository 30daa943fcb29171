"""Tiny real-MNIST runs: every IAM Table 2 and RegularFace Fig. 4 row lowers its loss; same seed, same run."""

from __future__ import annotations

from functools import partial

import pytest

torch = pytest.importorskip("torch")

from training.toy.data import MNIST_PATH, Mnist, Split, load_mnist
from training.toy.experiments import RF, Row, iam_rows, rf_rows
from training.toy.fit import FitConfig, train_run
from training.toy.nets import IamCNN, LeNet

TINY = FitConfig(epochs=100, batch_size=32, lr=3e-3, max_steps=20)


def small(data: Mnist, n_train: int = 200, n_test: int = 100) -> tuple[Split, Split]:
    return Split(data.train.images[:n_train], data.train.labels[:n_train]), Split(
        data.test.images[:n_test], data.test.labels[:n_test]
    )


@pytest.fixture(scope="module")
def ten_digits() -> Mnist:
    if not MNIST_PATH.exists():
        pytest.fail(f"MNIST not found at {MNIST_PATH}")
    return load_mnist(train_size=200, subset_seed=0)


@pytest.fixture(scope="module")
def three_digits() -> Mnist:
    return load_mnist(digits=(0, 1, 2))


def assert_learns(row: Row, make_net: partial[torch.nn.Module], data: Mnist) -> None:
    train, test = small(data)
    run = train_run(make_net, row.loss, train, test, TINY, seed=0)
    assert len(run.losses) == TINY.max_steps
    first, last = sum(run.losses[:4]) / 4, sum(run.losses[-4:]) / 4
    assert last < first, f"{row.name}: loss {first:.3f} -> {last:.3f}"
    assert run.test_features.shape == (len(test), run.class_weight.shape[1])


@pytest.mark.parametrize("index", range(4))
def test_iam_rows_lower_the_loss(index: int, ten_digits: Mnist) -> None:
    assert_learns(iam_rows(10.0)[index], partial(IamCNN, 3, 0.25), ten_digits)


@pytest.mark.parametrize("index", range(4))
def test_regularface_rows_lower_the_loss(index: int, three_digits: Mnist) -> None:
    row = rf_rows(RF, total_steps=2000)[index]  # λ_sm of a real run's start
    assert_learns(row, partial(LeNet, 2), three_digits)


def test_data_filters_and_subsets(ten_digits: Mnist, three_digits: Mnist) -> None:
    assert len(ten_digits.train) == 200 and len(ten_digits.test) == 10_000
    assert set(three_digits.train.labels.tolist()) == {0, 1, 2} and three_digits.digits == (0, 1, 2)
    again = load_mnist(train_size=200, subset_seed=0)
    assert torch.equal(again.train.labels, ten_digits.train.labels)


def test_same_seed_same_run(three_digits: Mnist) -> None:
    train, test = small(three_digits)
    fit = FitConfig(epochs=1, batch_size=32, max_steps=5)
    row = rf_rows(RF, total_steps=2000)[1]  # center loss: net, head and centres
    a, b = (train_run(partial(LeNet, 2), row.loss, train, test, fit, seed=3) for _ in range(2))
    assert a.losses == b.losses and torch.equal(a.test_features, b.test_features)
