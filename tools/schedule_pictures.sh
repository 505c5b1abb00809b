#!/usr/bin/env bash
# Regenerates docs/schedules/*.svg: the picture of every shipped schedule, compiled for DiT-XL/2
# at 50 steps with CFG (`ditto explain --svg`; DDPM unless the schedule declares its sampler), plus docs/schedules/README.md with their
# FLOPs ratios. Usage: bash tools/schedule_pictures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/schedules
mkdir -p "$out"
work=$(mktemp -d)
{
  echo "# The shipped schedules, pictured"
  echo
  echo "Each picture is \`ditto explain --svg\` of the schedule compiled for DiT-XL/2 (256 px), 50 DDPM"
  echo "steps (DDIM for a schedule that declares \`sampler ddim\`), CFG 1.5: sampling steps left to right,"
  echo "one row per cached node. Regenerate with"
  echo "\`bash tools/schedule_pictures.sh\`. Yellow cells are decided on the GPU at run time (a dynamic rule:"
  echo "compute or reuse); such steps are costed as computing, so a dynamic schedule's ratio is its worst case."
  echo "Light blue cells are partial computes (\`compute tokens(…)\`: some token rows computed, the rest reused)."
  echo "Pink cells (\`fastercache\`) are the model output's unconditional half taken from the conditional half and"
  echo "the stored frequency bands (\`cfg_cache\`): every node above it is dead in that half."
  echo
  echo "| schedule | file | FLOPs ratio | predicted speed-up | picture |"
  echo "|---|---|---|---|---|"
} > "$out/README.md"
for f in models/schedules/*.ditto; do
  for name in $(grep -o '^schedule [A-Za-z_0-9]*' "$f" | awk '{print $2}'); do
    # A schedule made for one sampler (`sampler ddim` in its body) is compiled for it.
    sampler=$(awk -v n="$name" '$1 == "schedule" && $2 ~ "^"n"[(]?" { split($2, a, "("); inside = (a[1] == n) } inside && $1 == "sampler" { print $2; exit } inside && /^}/ { exit }' "$f")
    node bin/ditto.js compile models/dit.ditto --model DiT-XL/2 --schedule "$f:$name" --steps 50 --sampler "${sampler:-ddpm}" --cfg 1.5 --caps hardware -o "$work/$name.json" >/dev/null 2>"$work/err" || { echo "skip $name: $(grep -m1 error "$work/err")"; continue; }
    node bin/ditto.js explain "$work/$name.json" --svg "$out/$name.svg" >/dev/null 2>&1
    read -r ratio speed < <(node -e 'const p=require(process.argv[1]);console.log(p.cost.flopsRatio.toFixed(3), p.cost.predictedSpeedup.toFixed(2))' "$work/$name.json")
    echo "| \`$name\` | [$(basename "$f")](../../$f) | $ratio | ${speed}x | [svg]($name.svg) |" >> "$out/README.md"
    echo "$name: FLOPs ratio $ratio"
  done
done
rm -rf "$work"
