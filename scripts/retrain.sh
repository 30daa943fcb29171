#!/usr/bin/env bash
# Retrain an embedder from one recipe: prepare -> train -> export -> evaluate on LFW -> install.
#
#   scripts/retrain.sh CONFIG [SRC_DIR ...]      (or: facever retrain CONFIG [SRC_DIR ...])
#
# SRC_DIR: per-identity image folder(s) (default: ../shared/data/celeba/faces and ../shared/data/cacd/faces).
# Every step resumes: prepare skips finished shards, train continues from the run's newest checkpoint. The exported
# model gets a score-normalisation cohort of its own training faces (facever cohort). The LFW evaluation runs it
# through the service's own pipeline and scoring, and its accuracy and thresholds go into the installed model card. Under torchrun, set TRAIN="torchrun --nproc_per_node 8 -m training.train".
# EVAL_ARGS adds options to the LFW evaluation, e.g. "--pairs 30" for a quick subset (default: all 6,000 pairs).
# WEIGHTS=fp16|int8 ships that compact form (int8 calibrated on crops of the prepared data); the LFW
# evaluation then measures the compact model itself.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 CONFIG [SRC_DIR ...]" >&2
    exit 2
fi
CONFIG=$1
shift
SOURCES=("$@")
[[ ${#SOURCES[@]} -gt 0 ]] || SOURCES=(../shared/data/celeba/faces ../shared/data/cacd/faces)
TRAIN=${TRAIN:-python -m training.train}
MODELS_DIR=${FACEVER_MODELS_DIR:-models}
WEIGHTS=${WEIGHTS:-fp32}
read -r -a EVAL_OPTIONS <<< "${EVAL_ARGS:-}"

eval "$(python -m training.config "$CONFIG")"  # NAME, DATA_DIR, RUN_DIR, CHECKPOINT_DIR

echo "== prepare ${SOURCES[*]} -> $DATA_DIR"
facever prepare "${SOURCES[@]}" "$DATA_DIR"

echo "== train $CONFIG"
$TRAIN --config "$CONFIG"
CHECKPOINT=$(find "$CHECKPOINT_DIR" -name 'step_*.pt' | sort | tail -n 1)

echo "== export $CHECKPOINT, ship its score-normalisation cohort, evaluate it on LFW through the service pipeline"
EXPORT="$RUN_DIR/export/$NAME"
facever export --checkpoint "$CHECKPOINT" --name "$NAME" --out "$EXPORT" --weights "$WEIGHTS" --calibration "$DATA_DIR"
facever cohort "$EXPORT" "$DATA_DIR"
ln -sfn "$(realpath "$MODELS_DIR/detector")" "$RUN_DIR/export/detector"  # the evaluation's models dir needs the detector too
facever evaluate lfw --models-dir "$RUN_DIR/export" --embedder "$NAME" --out "$RUN_DIR/eval" "${EVAL_OPTIONS[@]}"
facever calibrate "$EXPORT" --report "$RUN_DIR/eval/lfw-$NAME.json"

echo "== install into $MODELS_DIR/$NAME (the evaluated files themselves, card with LFW metrics and calibrated thresholds)"
rm -rf "${MODELS_DIR:?}/$NAME"
cp -r "$EXPORT" "$MODELS_DIR/$NAME"
echo "installed $MODELS_DIR/$NAME; select it with: export FACEVER_EMBEDDER=$NAME  (then facever serve / facever reembed)"
