#!/usr/bin/env bash
# The GPU path in one run, on a lent CUDA machine (<= 8 minutes), every result under $OUT:
#   1. installs what the machine lacks from carried wheels, offline (.device-wheels/);
#   2. the tests marked cuda (tests/cuda), with what they measure in cuda_tests.jsonl;
#   3. benchmarks/train_throughput.py and benchmarks/rollout_throughput.py in bfloat16 on a
#      model of 1,024 wide and 16 layers (the CISPO step against a bare forward+backward,
#      HFPolicy against raw generate);
#   4. the default tiny pipeline on CUDA (stopped at its time budget: it resumes);
#   5. with the SmolLM2 GGUF carried in .device-model/ (two parts: one call carries at
#      most 64 MiB), the real-model recipe at the talk's sizes (64 games a step).
# Each step has its own time budget and the script goes on when one fails or runs out.
#
#   bash scripts/device_check.sh --fetch   # here, with a registry: the wheels and the model parts
#   bash scripts/device_check.sh           # there: the check (the project runs from the tree)
#   bash scripts/device_check.sh --dry-run # here: the same steps on the CPU at a tiny size
#
# Carrying it (64 MiB a call): the wheels are 18 MiB, the two model parts 60 and 34 MiB.
# Call 1 carries .device-model/<gguf>.part-aa and runs nothing else; call 2, back to back
# (the machine keeps ignored files while warm), carries .device-wheels and the part-ab and
# runs `bash scripts/device_check.sh`. Without the model parts, step 5 is skipped.
set -uo pipefail
cd "$(dirname "$0")/.."

mode="${1:-device}"
WHEELS=.device-wheels
MODEL=.device-model

if [ "$mode" = "--fetch" ]; then
  # Python 3.12 x86-64 wheels of what the device machine lacks (it has torch, transformers,
  # peft, pytest and hypothesis), and the GGUF in two parts of under 64 MiB.
  mkdir -p "$WHEELS" "$MODEL"
  python3 -m pip download -q --dest "$WHEELS" --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 gymnasium gguf cloudpickle farama-notifications
  gguf=$(ls .cache/models/*.gguf 2>/dev/null | head -1)
  if [ -n "$gguf" ]; then
    split -b 60M "$gguf" "$MODEL/$(basename "$gguf").part-"
  fi
  du -sh "$WHEELS" "$MODEL"
  exit 0
fi

OUT="${OUT:-/tmp/device-check}"  # at most 8 files come back: logs and tables only
WORK="${WORK:-/tmp/device-work}"  # run folders (model weights) stay on the machine
mkdir -p "$OUT" "$WORK"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python}"
log() { echo "== $(date +%T) $*" | tee -a "$OUT/steps.txt"; }

if [ "$mode" = "--dry-run" ]; then
  DEVICE=cpu
  DTYPE=float32
  WIDTH=(--hidden 64 --layers 2)
  SIZES=1,16
  SMALL=1
else
  DEVICE=cuda
  DTYPE=bfloat16
  WIDTH=(--hidden 1024 --layers 16)
  SIZES=1,64,256
  SMALL=0
  log "installing the carried wheels"
  "$PY" -m pip install -q --no-index --find-links "$WHEELS" gymnasium gguf 2>&1 | tail -3
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$OUT/steps.txt" 2>&1
fi
"$PY" - <<'EOF' | tee -a "$OUT/steps.txt"
import platform, torch, transformers, gymnasium
print("python", platform.python_version(), "torch", torch.__version__,
      "transformers", transformers.__version__, "gymnasium", gymnasium.__version__,
      "cuda", torch.cuda.is_available() and torch.cuda.get_device_name(0))
EOF

log "tests marked cuda on $DEVICE"
TEXTGYM_TEST_DEVICE=$DEVICE TEXTGYM_CUDA_REPORT="$OUT/cuda_tests.jsonl" \
  timeout 150 "$PY" -m pytest -q -p no:cacheprovider -m cuda tests/cuda 2>&1 \
  | tail -15 >> "$OUT/steps.txt"

log "CISPO step vs bare forward+backward ($DTYPE, ${WIDTH[*]})"
games=256
[ "$SMALL" = 1 ] && games=16
timeout 150 "$PY" benchmarks/train_throughput.py --device "$DEVICE" --dtype "$DTYPE" \
  "${WIDTH[@]}" --games "$games" --repeats 3 > "$OUT/train_throughput.txt" 2>&1
tail -4 "$OUT/train_throughput.txt"

log "HFPolicy vs raw generate ($DTYPE, ${WIDTH[*]})"
timeout 120 "$PY" benchmarks/rollout_throughput.py --device "$DEVICE" --dtype "$DTYPE" \
  "${WIDTH[@]}" --sizes "$SIZES" --min-games 16 --repeats 10 \
  > "$OUT/rollout_throughput.txt" 2>&1
tail -4 "$OUT/rollout_throughput.txt"

log "the default tiny pipeline on $DEVICE"
preset=default
[ "$SMALL" = 1 ] && preset=quick
timeout 150 "$PY" -m textgym.cli pipeline --preset "$preset" --device "$DEVICE" \
  --out "$WORK/pipeline" --quiet > "$OUT/pipeline.txt" 2>&1
echo "exit $? (124: stopped at its budget; the run resumes)" >> "$OUT/pipeline.txt"
for f in timings.json memory.json report.md; do
  [ -f "$WORK/pipeline/$f" ] && { echo "-- $f"; cat "$WORK/pipeline/$f"; echo; } >> "$OUT/pipeline.txt"
done
tail -3 "$OUT/pipeline.txt"

parts=$(ls "$MODEL"/*.part-* 2>/dev/null)
if [ -n "$parts" ] && [ "$SMALL" = 0 ]; then
  log "SmolLM2 at the talk's sizes (64 games a step)"
  mkdir -p .cache/models  # where the smollm2 preset looks for it
  cat $parts > ".cache/models/$(basename "$(echo "$parts" | head -1)" | sed 's/\.part-.*//')"
  timeout 150 "$PY" -m textgym.cli pipeline --preset smollm2 --device cuda \
    --dtype bfloat16 --games-per-batch 64 --out "$WORK/smollm2" --quiet \
    > "$OUT/smollm2.txt" 2>&1
  echo "exit $?" >> "$OUT/smollm2.txt"
  for f in timings.json memory.json report.md; do
    [ -f "$WORK/smollm2/$f" ] && { echo "-- $f"; cat "$WORK/smollm2/$f"; echo; } >> "$OUT/smollm2.txt"
  done
  tail -3 "$OUT/smollm2.txt"
fi
log "done"
