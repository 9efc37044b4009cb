#!/usr/bin/env bash
# The built-in example: simulate 1000 particles from the shipped 70S ribosome map
# (examples/data/ribosome70S_box32.mrc, see examples/data/PROVENANCE.md) with CTF, shifts and
# noise (SNR 1), reconstruct them ab initio (no poses given), and report the result against the
# ground truth: FSC after alignment, pose error, and the known-pose reconstruction for reference.
# Output goes to ./example-out (override with OUT=...). About 2 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-example-out}"
N="${N:-1000}"
cli="node bin/cryospin.js"
rm -rf "$OUT"
echo "== simulate: $N particles, box 32, SNR 1, CTF, shifts +-1 px ==" >&2
$cli simulate --map examples/data/ribosome70S_box32.mrc --n "$N" --snr 1 --shift-px 1 --seed 0 -o "$OUT/sim"
echo "== reconstruct ab initio (search initialisation, then auto-decoding) ==" >&2
$cli reconstruct "$OUT/sim/particles.star" -o "$OUT/recon" --search-shift 1 \
  --gt-map "$OUT/sim/gt.mrc" --gt-poses "$OUT/sim/particles.star" --seed 0
echo "== report ==" >&2
echo "FSC of the ab-initio map vs ground truth (after alignment, both hands tried):"
$cli fsc "$OUT/sim/gt.mrc" "$OUT/recon/map.mrc" --align | grep -v '^ *[0-9]'
echo "Gold-standard FSC of the two half maps:"
$cli fsc "$OUT/recon/half1.mrc" "$OUT/recon/half2.mrc" | grep -v '^ *[0-9]'
$cli backproject "$OUT/sim/particles.star" -o "$OUT/known_pose_map.mrc" >/dev/null
echo "FSC of the known-pose reconstruction vs ground truth (the best possible):"
$cli fsc "$OUT/sim/gt.mrc" "$OUT/known_pose_map.mrc" | grep -v '^ *[0-9]'
echo "Pose error vs ground truth:"
$cli pose-error "$OUT/recon/poses.star" "$OUT/sim/particles.star"
echo "outputs in $OUT/ (recon/map.mrc, half1/2.mrc, poses.star, pose.pkl, metrics.jsonl, run.log)"
echo "report with pictures: $OUT/recon/report.html (live dashboard of a run: add --serve, or cryospin serve $OUT/recon)"
