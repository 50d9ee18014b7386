#!/usr/bin/env bash
# The `full` threat suite on every Table-4 checkpoint of the quick board (issue 18), one `run` per checkpoint, seed
# by seed, straight into the record folders; after each record lands the board is re-published (entries,
# LEADERBOARD.md, index.html) and, with COMMIT=1, committed with it, so the board never lags its records. A record
# that already holds the suite is skipped: stop it anywhere and start it again. Measured on 2 AVX2 cores with
# nothing beside it: 6-7 min per pruned network, 11-13 min per full-size one (Square and HSV take most); on 2
# AVX-512 cores 3.9-5.4 and 7.0-10.3 min (seeds 1-2, 2026-12-06).
#
#   leaderboard/staging/full_suite_backlog.sh DATA.npz WORK [SEEDS]     (SEEDS default: 0 1 2)
set -u
D=$1 W=$2
SEEDS=${3:-0 1 2}
cd "$(dirname "$0")/../.." || exit 1
mkdir -p "$W"
ROWS=(baseline "prune-filters(iterations=6,finetune_epochs=1)" "prune-layers(iterations=4,finetune_epochs=1)"
      "prune-both(iterations=6,finetune_epochs=1)" cutout cutmix mixup shape-texture stylized)
failed=0
for s in $SEEDS; do
  for d in "${ROWS[@]}"; do
    for R in leaderboard/staging/quick leaderboard/runs/quick; do
      f="$R/resnet20-quick-s$s-$d.json"
      [ -f "$f" ] || continue
      grep -q '"threat": "square"' "$f" && continue
      date -u +"%F %T seed $s $d"
      if ! python3 -m benchmark.cli run --budget quick --data "$D" --records "$R" --out "$W" --no-progress \
             --threats paper,eps-sweep,full --seed "$s" --defenses "$d" > "$W/full-suite.log" 2>&1; then
        echo "  failed (see $W/full-suite.log)"; failed=1; continue
      fi
      python3 -m benchmark.cli leaderboard --publish > /dev/null || { echo "  publish failed"; failed=1; continue; }
      if [ -n "${COMMIT:-}" ]; then
        git add "$f" leaderboard/entries leaderboard/LEADERBOARD.md leaderboard/index.html leaderboard/*.png &&
          git commit -q -m "Full suite on $d, seed $s; re-published" || { echo "  commit failed"; failed=1; }
      fi
    done
  done
done
date -u +"%F %T done"
exit $failed
