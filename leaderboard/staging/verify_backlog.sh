#!/usr/bin/env bash
# Re-evaluate published entries (`defense-bench verify`: every stored checkpoint on every threat its entry holds,
# then every derived number), one entry at a time, and keep each entry's whole output as
# leaderboard/verify/<entry>.txt, headed by the entry's SHA-256, the code version, the CPU and the thread count.
# Resumable: an entry whose log says PASS for the entry's current SHA-256 is skipped (a re-published entry is
# verified again). One failing entry never stops the others; the exit code is 1 if any failed. Measured on 2
# AVX-512 cores: about 1 min per checkpoint with the paper suite and the eps sweep, 5-8 with the full suite too.
#
#   leaderboard/staging/verify_backlog.sh DATA.npz [ENTRY.json ...]     (default: every entry; COMMIT=1 commits
#                                                                         each log as it lands)
set -u
D=$1
shift
cd "$(dirname "$0")/../.." || exit 1
mkdir -p leaderboard/verify
[ $# -gt 0 ] || set -- leaderboard/entries/*.json
failed=0
for e in "$@"; do
  n=$(basename "$e" .json)
  log=leaderboard/verify/$n.txt
  sha=$(sha256sum "$e" | cut -d' ' -f1)
  if grep -q "^entry sha256: $sha$" "$log" 2>/dev/null && grep -q '^PASS: ' "$log"; then continue; fi
  date -u +"%F %T $n"
  {
    echo "entry: $e"
    echo "entry sha256: $sha"
    python3 -c 'import os, torch; from benchmark.provenance import code_version; from benchmark.precision import cpu_kind
print(f"code: {code_version()}\ncpu: {cpu_kind()}, {torch.get_num_threads()} threads, torch {torch.__version__}")'
    echo "started: $(date -u +%FT%TZ)"
  } > "$log.tmp"
  python3 -m benchmark.cli verify --data "$D" --no-progress "$e" >> "$log.tmp" 2>&1
  rc=$?
  echo "finished: $(date -u +%FT%TZ), exit $rc" >> "$log.tmp"
  mv "$log.tmp" "$log"
  tail -2 "$log" | head -1
  [ $rc = 0 ] || failed=1
  if [ -n "${COMMIT:-}" ]; then
    git add "$log" && git commit -q -m "verify: $n re-evaluated (exit $rc)" -- "$log" || { echo "  commit failed"; failed=1; }
  fi
done
date -u +"%F %T done"
exit $failed
