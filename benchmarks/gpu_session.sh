#!/bin/bash
# The 2026-12-04 GPU session (runs/speed_table_cuda.md, runs/gpu_training_2026-12-04.md):
# CUDA speed rows, then four trainings at once on the one GPU, each for what is left of
# END seconds. Run from the repository root on the GPU machine, with:
#   .gpu/data/train/BSD200  lossless WebP copies of ../shared/data/train/BSD200 (that machine
#                           takes 64 MiB of working tree; T91 did not fit), made here with
#     python -c "import glob,os; from PIL import Image; [Image.open(f).convert('RGB').save(
#       '.gpu/data/train/BSD200/'+os.path.basename(f)[:-4]+'.webp', 'WEBP', lossless=True,
#       method=3, quality=100) for f in glob.glob('../shared/data/train/BSD200/*.png')]"
#   .whl/                   the rawpy and platformdirs wheels its Python lacked
# DEV=cpu END=60 SP=0.2 RP=1 RMP=0.5 PY=.venv/bin/python OUT=/tmp/dry: a dry run here.
# On 2026-12-04 the speed step ran into its 150 s limit after the upscalers and the RAW
# step into its 45 s limit (24 MP); the deblur and RAW rows came from a second call:
#   python benchmarks/speed_table.py --device cuda --megapixels 12 --repeat 2 --threads 16 --tasks deblur
#   python benchmarks/raw_speed.py --device cuda --megapixels 12 --repeat 2 --threads 16
set -u
export PYTHONUNBUFFERED=1
DEV=${DEV:-cuda}; OUT=${OUT:-/tmp/out}; mkdir -p "$OUT" runs
PY=${PY:-python3}
if [ "$DEV" = cuda ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/env.txt" 2>&1
fi
{ $PY -c "import torch,sys,cv2,numpy;print('torch',torch.__version__,torch.version.cuda,'cv2',cv2.__version__,'numpy',numpy.__version__,sys.version)"; nproc; df -h /dev/shm; lscpu | grep "Model name"; } >> "$OUT/env.txt" 2>&1
T0=$(date +%s)
SP=${SP:-12}; RP=${RP:-3}; RMP=${RMP:-24}
timeout -k 5 150 $PY benchmarks/speed_table.py --device $DEV --megapixels $SP --repeat $RP --threads 16 > "$OUT/speed_cuda.md" 2> "$OUT/speed_cuda.log"
echo "speed rc=$? at $(( $(date +%s) - T0 )) s" >> "$OUT/env.txt"
{ timeout -k 5 45 $PY benchmarks/raw_speed.py --device $DEV --megapixels $RMP --repeat $RP --threads 16
  timeout -k 5 40 $PY benchmarks/raw_speed.py --device $DEV --megapixels $RMP --repeat $RP --threads 16 --fp32; } > "$OUT/raw_speed_cuda.txt" 2>&1
echo "raw speed done at $(( $(date +%s) - T0 )) s" >> "$OUT/env.txt"
# the training gets what is left of END seconds (trainings end about 45 s after their budget)
END=${END:-530}
MIN=$(python3 -c "print(round(max(1.0, min(6.5, ($END - $(( $(date +%s) - T0 )) - 45) / 60)), 2))")
echo "training minutes $MIN" >> "$OUT/env.txt"
UPID=
if [ "$DEV" = cuda ]; then nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -l 15 > "$OUT/util.csv" 2>&1 & UPID=$!; fi
train() {  # name config weights lr workers
  timeout -k 10 $(python3 -c "print(int($MIN*60+75))") $PY -m deconv_gui.training.train \
    --config deconv_gui/training/configs/$2.json --resume resources/models/$3.safetensors \
    --lr $4 --minutes $MIN --threads 2 --bf16 --device $DEV --workers $5 --batch 64 --val-every 500 \
    --data .gpu/data --folders train/BSD200 --out runs/$1 --no-eval > runs/$1.log 2>&1
  echo "$1 rc=$? at $(( $(date +%s) - T0 )) s" >> "$OUT/env.txt"
}
P=
train gx4 fsrcnn_x4 fsrcnn-x4 3e-4 2 & P="$P $!"
train gx2 fsrcnn_x2 fsrcnn-x2 2e-4 2 & P="$P $!"
train gjpeg redunet_jpeg redunet-jpeg 3e-4 3 & P="$P $!"
train gcam redunet_denoise_camera redunet-denoise-camera 2e-4 5 & P="$P $!"
wait $P
[ -n "$UPID" ] && kill $UPID 2>/dev/null
tar czf "$OUT/runs.tgz" runs/g*.log runs/g*/*.json runs/g*/*.safetensors 2>> "$OUT/env.txt"
echo "all done at $(( $(date +%s) - T0 )) s" >> "$OUT/env.txt"
