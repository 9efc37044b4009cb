#!/usr/bin/env bash
# The built-in example: simulate a small particle set from the shipped atomic model
# (adenylate kinase, PDB 1AKE chain A; see examples/data/PROVENANCE.md), reconstruct it ab initio
# with the semi-amortized method, and report the result against the ground truth.
# Output goes to ./example-out (override with OUT=...). Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-example-out}"
N="${N:-600}"
EPOCHS="${EPOCHS:-4}"
cli="node bin/cryospin.js"
rm -rf "$OUT"
echo "== simulate: $N particles, box 32, SNR 1 ==" >&2
$cli simulate --model examples/data/1akeA.pdb --box 32 --apix 2.5 --n "$N" --snr 1 --shift-px 1 --seed 0 -o "$OUT/sim"
echo "== reconstruct (semi-amortized, $EPOCHS epochs) ==" >&2
$cli reconstruct "$OUT/sim/particles.star" -o "$OUT/recon" --epochs "$EPOCHS" --switch-epoch 2 --heads 4 \
  --gt-map "$OUT/sim/gt.mrc" --gt-poses "$OUT/sim/particles.star" --seed 0
echo "== report ==" >&2
$cli backproject "$OUT/sim/particles.star" -o "$OUT/known_pose_map.mrc"
echo "FSC of the ab-initio map vs ground truth (aligned, both hands):"
$cli fsc "$OUT/sim/gt.mrc" "$OUT/recon/map.mrc" --align
echo "FSC of the known-pose reconstruction vs ground truth:"
$cli fsc "$OUT/sim/gt.mrc" "$OUT/known_pose_map.mrc"
echo "Pose error vs ground truth:"
$cli pose-error "$OUT/recon/poses.star" "$OUT/sim/particles.star"
echo "outputs in $OUT/ (map.mrc, half1/2.mrc, poses.star, pose.pkl, metrics.jsonl)"
