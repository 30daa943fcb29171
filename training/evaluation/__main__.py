"""`python -m training.evaluation ...`, the same as `python -m training.evaluate ...`."""

from training.evaluation.cli import main

raise SystemExit(main())
