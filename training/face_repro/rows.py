"""The rows of the face-scale comparison: one shared recipe (configs/face_repro.yaml), each row changes the loss."""

from __future__ import annotations

from dataclasses import dataclass

RECIPE = "training/configs/face_repro.yaml"
LAMBDA = 6.0  # RF Fig. 6's best λ on CASIA, and the shipped recipe's
BETA = 0.8  # in IAM's recommended range
SWEEP_LAMBDAS = (0.0, 2.0, LAMBDA, 18.0)  # RF Fig. 6: the converged L_r should fall as λ grows
# plain softmax (free W, unnormalised features) never left chance at the shared lr 0.1 and went to NaN at
# step ~280 of 532; its two rows train at a tenth of it
SOFTMAX_LR = 0.01
ANNEAL_FRACTION = 3 / 28  # RF anneals λ over 3 of its 28 epochs (Eq. 15); our rows keep that share of the run


@dataclass(frozen=True)
class Row:
    key: str  # run name suffix and results file name
    label: str
    loss: tuple[str, ...]  # --set KEY=VALUE on top of the recipe, RegularFace's apart
    lambda_: float = 0.0  # RegularFace's weight (RF Eq. 10); 0 leaves it off
    warmup: float = 0.0  # epochs over which λ rises to its value (RF Eq. 15)

    @property
    def overrides(self) -> tuple[str, ...]:
        """Every --set of the row."""
        if not self.lambda_:
            return self.loss
        return (*self.loss, f"loss.lambda_={self.lambda_:g}", f"loss.lambda_warmup_epochs={self.warmup:g}")


def rows(epochs: float) -> list[Row]:
    """Every row, most telling first: a run cut short still answers the earlier comparisons."""
    warmup = round(epochs * ANNEAL_FRACTION, 3)
    normface, cosface = ("loss.base=normface",), ("loss.base=cosface", "loss.m=0.35")
    softmax = ("loss.base=softmax", f"optim.lr={SOFTMAX_LR:g}")
    iam = (f"loss.beta={BETA:g}",)
    return [
        Row("normface", "Eq. 3 (NormFace, s = 30)", normface),
        Row("normface_iam", f"Eq. 3 + IAM (β = {BETA:g})", normface + iam),
        Row("cosface", "CosFace (m = 0.35)", cosface),
        Row("cosface_rf", f"CosFace + RF (λ = {LAMBDA:g})", cosface, LAMBDA, warmup),
        Row("cosface_iam", f"CosFace + IAM (β = {BETA:g})", cosface + iam),
        Row("softmax", f"Softmax (RF Eq. 2–3, lr {SOFTMAX_LR:g})", softmax),
        Row("softmax_rf", f"Softmax + RF (λ = {LAMBDA:g}, lr {SOFTMAX_LR:g})", softmax, LAMBDA, warmup),
        Row(f"cosface_rf_l{SWEEP_LAMBDAS[-1]:g}", f"CosFace + RF (λ = {SWEEP_LAMBDAS[-1]:g})",
            cosface, SWEEP_LAMBDAS[-1], warmup),
        Row("cosface_rf_noanneal", f"CosFace + RF (λ = {LAMBDA:g}, no annealing)", cosface, LAMBDA, 0.0),
        Row(f"cosface_rf_l{SWEEP_LAMBDAS[1]:g}", f"CosFace + RF (λ = {SWEEP_LAMBDAS[1]:g})",
            cosface, SWEEP_LAMBDAS[1], warmup),
        Row("cosface_rf_iam", "CosFace + RF + IAM (the shipped recipe's loss)", cosface + iam, LAMBDA, warmup),
    ]  # fmt: skip


def sweep_rows(all_rows: list[Row]) -> list[Row]:
    """The λ sweep of RF Fig. 6 on CosFace, annealed alike; λ = 0 is the plain CosFace row."""
    by_key = {r.key: r for r in all_rows}
    keys = ["cosface", *(f"cosface_rf_l{lam:g}" if lam != LAMBDA else "cosface_rf" for lam in SWEEP_LAMBDAS[1:])]
    return [by_key[k] for k in keys]
