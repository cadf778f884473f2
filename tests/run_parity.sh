#!/usr/bin/env bash
# Logits parity of the engine against an independent Python reference (tools/model_parity.py
# on Debian's python3-torch), for random models of each family the engine supports:
# GPT-2 (LayerNorm, learned positions, fused QKV, tied head), Llama with grouped-query
# attention and llama3 rope scaling (untied head, bfloat16 weights), Qwen2 (q/k/v biases,
# sharded safetensors), and the built-in model (a 688-wide down projection, which the block
# formats hold in float16). Each runs in every weight format (float32, bfloat16, float16,
# int8, int4; the reference rounds its weights as the engine holds them, and in int8 and int4
# quantizes the products' inputs as the engine's integer kernels do; model_parity.py's
# TOLERANCES says how close per format) with 16 prompts of different lengths, each alone and
# all in one batch, prefilled whole; Llama is also prefilled in chunks of 3 in every format
# (prefills and decodes sharing a step), GPT-2 and Qwen2 in float32. Exit 77 (ctest: skipped)
# when python3-torch is missing.
#   run_parity.sh MAKE_MODEL PROBE SOURCE_DIR
set -euo pipefail
make_model=$1 probe=$2 source_dir=$3
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "SKIP: python3-torch is not installed (apt-get install python3-torch)"
  exit 77
fi
work=$(mktemp -d -t ringserve-parity.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$make_model" --out "$work/gpt2" --type gpt2 --layers 3 --hidden 96 --heads 4 --vocab 320 \
  --max-positions 64 --seed 11 >/dev/null
"$make_model" --out "$work/llama" --type llama --layers 3 --hidden 128 --heads 8 --kv-heads 2 \
  --vocab 300 --max-positions 128 --llama3-rope --untied --dtype bfloat16 --seed 12 >/dev/null
"$make_model" --out "$work/qwen2" --type qwen2 --layers 2 --hidden 64 --heads 4 --kv-heads 4 \
  --vocab 280 --max-positions 64 --rope-theta 1000000 --shards 2 --seed 13 >/dev/null
status=0
parity() {  # MODEL_DIR CHUNK DTYPES [model_parity.py arguments]
  local dir=$1 chunk=$2 dtypes=$3
  shift 3
  local args=(--probe "$probe" --model "$dir" --decode 8 --dtype "$dtypes" "$@")
  if [ "$chunk" -gt 0 ]; then args+=(--probe-arg=--chunk "--probe-arg=$chunk"); fi
  echo "== ${dir##*/} in $dtypes (prefill chunk ${chunk/#0/whole}) $*"
  /usr/bin/python3 "$source_dir/tools/model_parity.py" "${args[@]}" || status=1
}
for dir in "$work/gpt2" "$work/llama" "$work/qwen2" "$source_dir/models/builtin"; do
  parity "$dir" 0 all --batch 16
done
parity "$work/llama" 3 all --batch 16
parity "$work/gpt2" 3 float32
parity "$work/qwen2" 3 float32
exit $status
