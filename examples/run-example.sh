#!/usr/bin/env bash
# The built-in example: simulate a small particle set from the bundled atomic model
# (examples/data/1akeA.pdb, see examples/data/PROVENANCE.md) and reconstruct it with the known
# poses. Runs in about a minute on one core. Output goes to ${OUT:-examples/out}.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-examples/out}"
CRYOSPIN="node bin/cryospin.js"

# 1. 2000 particles, box 32 at 3 A/px, SNR 0.1, CTF 300 kV / Cs 2.7 / Q 0.1, defocus 1.0-2.5 um,
#    shifts within +-3 px, seed 0. Writes particles.star/.mrcs and the ground truth gt.mrc.
$CRYOSPIN simulate --model examples/data/1akeA.pdb -o "$OUT/sim" --box 32 --apix 3 \
  --n 2000 --snr 0.1 --shift-px 3 --defocus 1.0 2.5 --seed 0 --json

# 2. Known-pose reconstruction, two half maps, FSC of the halves and against the ground truth.
$CRYOSPIN backproject "$OUT/sim/particles.star" -o "$OUT/backproject.mrc" --halves \
  --ref "$OUT/sim/gt.mrc" --json
