#!/usr/bin/env bash
# The fp32 record backlog of the quick board (issues 18 and 19) in priority order, for a lent GPU (or any
# machine): baseline seeds 3-4, then the dose-response study seed by seed (the finetune-only control at 1-12
# fine-tuning rounds, prune-filters 1-12, prune-layers 1-6, prune-both 1-9 iterations, one fine-tuning epoch
# each: issue 19's compute rule), each point with the paper suite and the eps sweep; after seed 2, Tables 2 and
# 3 (adjustments and criteria at the filters' operating point) on seeds 0-2. Resumable: `run` skips every run whose record is already in RECORDS and reuses the
# shared fine-tunes under WORK. The quick budget's fp32 sets TF32 off and cuDNN deterministic on a GPU.
#
#   leaderboard/staging/gpu_backlog.sh DATA.npz RECORDS WORK [SEEDS]     (SEEDS default: 0 1 2 3 4;
#   BUDGET=smoke for a first look; COMMIT=1 to git-commit each record as it lands, on a machine with the repo;
#   JOBS=2 or more: every seed's study and Tables 2-3 in processes side by side, each with its own WORK/<seed>,
#   without COMMIT (commit the records after: two git commits at once collide) -- on one H200 four such processes
#   kept the GPU at 99% and landed 57 points in 9 minutes, about 9 s a point against 11.5 s for one process alone)
set -u
D=$1 R=$2 W=$3
SEEDS=${4:-0 1 2 3 4}
run() { python3 -m benchmark.cli run --budget "${BUDGET:-quick}" --data "$D" --records "$R" --no-progress \
          --threats paper,eps-sweep ${COMMIT:+--commit} "$@" || echo "run $* exited $?"; }
points() {  # the study's defenses of one seed: the reference, the operating points and their controls first (what
  # Tables 4 and 1 and the verdict read), then the curves; a repeated name runs once
  local d="baseline,finetune-only(iterations=6,finetune_epochs=1),finetune-only(iterations=4,finetune_epochs=1)" i
  d+=",prune-filters(iterations=6,finetune_epochs=1),prune-layers(iterations=4,finetune_epochs=1)"
  d+=",prune-both(iterations=6,finetune_epochs=1)"
  for i in $(seq 1 12); do d+=",finetune-only(iterations=$i,finetune_epochs=1)"; done
  for i in $(seq 1 12); do d+=",prune-filters(iterations=$i,finetune_epochs=1)"; done
  for i in $(seq 1 6); do d+=",prune-layers(iterations=$i,finetune_epochs=1)"; done
  for i in $(seq 1 9); do d+=",prune-both(iterations=$i,finetune_epochs=1)"; done
  echo "$d" | tr ',' '\n' | sed -e ':a' -e '/([^)]*$/N; s/\n/,/; ta' | awk '!seen[$0]++' | paste -sd, -
}
tables23() {  # issue 19's Tables 2 and 3 at the filters' published operating point (6 iterations, 48.8% of FLOPs
  # removed over seeds 0-2; the fine-tune / PLS row is prune-filters(iterations=6) itself, already on the board)
  local d="baseline,finetune-only(iterations=6,finetune_epochs=1)" a c
  for c in l1 expected-abs hrank kl; do d+=",prune-filters(criterion=$c,iterations=6,finetune_epochs=1)"; done
  for a in scratch-e scratch-b w-ticket; do d+=",prune-filters(adjustment=$a,iterations=6,finetune_epochs=1)"; done
  echo "$d"
}
date -u +"%F %T baselines 3-4"
run --out "$W" --defenses baseline --seed 3,4
if [ "${JOBS:-1}" -gt 1 ]; then  # each seed's study in its own process (its own WORK), Tables 2-3 in one more
  for s in $SEEDS; do run --out "$W/s$s" --defenses "$(points)" --seed "$s" & done
  run --out "$W/t23" --defenses "$(tables23)" --seed 0,1,2 &
  wait
else
  for s in $SEEDS; do
    date -u +"%F %T study seed $s"
    run --out "$W" --defenses "$(points)" --seed "$s"
    if [ "$s" = 2 ]; then  # the study's first three seeds, then Tables 2 and 3 on them, then seeds 3-4
      date -u +"%F %T tables 2-3, seeds 0-2"
      run --out "$W" --defenses "$(tables23)" --seed 0,1,2
    fi
  done
fi
date -u +"%F %T done"
