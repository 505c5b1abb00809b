#!/usr/bin/env bash
# The issue-9 experiment on the embedded default model: does caching hurt or help, and does
# EB-Cache's exposure-bias correction help? One `ditto eval` per sampler over the paper's Table 5
# ablation (no cache / table only / scaling only / table + scaling), FORA, the released table in
# both orientations, and a calibrated table when one exists. Writes docs/experiment-fmnist/.
#
#   SAMPLES=2000 bash tools/experiment/fmnist.sh      # the issue asks ≥ 2000 per row
#
# Each sampler's run keeps its batches (eval --resume), so an interrupted experiment continues
# where it stopped when run again with the same settings; BOOTSTRAP (default 200) paired resamples
# give each FID difference from no cache a 95% interval.
set -euo pipefail
cd "$(dirname "$0")/../.."
SAMPLES=${SAMPLES:-2000}
CFG=${CFG:-3}
out=${OUT:-docs/experiment-fmnist}
mkdir -p "$out"
schedules=${SCHEDULES:-"ebcache_table_no_eps,ebcache_eps_only,ebcache_table,ebcache_table_sampling,fora(N=2),fora(N=3)"}
if [ -z "${NO_CALIBRATED:-}" ] && [ -f models/schedules/fmnist-calibrated.ditto ]; then schedules="$schedules,models/schedules/fmnist-calibrated.ditto"; fi
for sampler in ${SAMPLERS:-ddpm ddim}; do
  node bin/ditto.js eval models/fmnist.ditto --model DiT-FMNIST --weights models/weights/fmnist-dit.safetensors \
    --schedules "$schedules" --samples "$SAMPLES" --steps 50 --sampler "$sampler" --cfg "$CFG" --batch 50 \
    --out-dir "$out/$sampler" --resume --bootstrap "${BOOTSTRAP:-200}" | tee "$out/$sampler.txt"
done
