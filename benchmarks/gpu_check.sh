#!/usr/bin/env bash
# The CUDA path on a machine with a GPU, in one go (about 10 minutes on an H100, compiling included):
#   1. the supernet throughput on the GPU (benchmarks/supernet_throughput.py --compile): the
#      plain eager fp32 path beside the fast ops in fp32/bf16/fp16 x eager/compiled, then every
#      method at its batch size;
#   2. the tests marked `gpu`: searches of every method on CUDA (peak memory recorded), the data
#      and the supernet on the device, and a search stopped after epoch 2 and resumed, against
#      an uninterrupted one (tests/test_gpu.py);
#   3. the default nb1s1-search on CUDA, timed, its first and last lines.
# Run from the repository root with the project installed: bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python - <<'PY'
import torch
if not torch.cuda.is_available():
    raise SystemExit("gpu_check: no CUDA GPU on this machine (torch %s, CUDA %s)"
                     % (torch.__version__, torch.version.cuda))
print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA",
      torch.version.cuda)
PY
echo "== supernet throughput (images/s), CUDA"
python benchmarks/supernet_throughput.py --device cuda --rounds 20 --compile
echo "== tests marked gpu"
python -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py
echo "== the default search on CUDA"
out=$(mktemp -d)
start=$(date +%s)
nb1s1-search device=cuda logger=none progress=false "hydra.run.dir=$out/default" 2>&1 \
  | sed -n '1p;$p'
echo "wall: $(( $(date +%s) - start )) s; run dir $out/default"
