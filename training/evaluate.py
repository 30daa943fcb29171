"""Evaluation entry point (DESIGN.md layout): `python -m training.evaluate lfw|pairs ...`; API in training.evaluation."""

from training.evaluation import *  # the public evaluation API under its design-doc name
from training.evaluation.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
