#!/usr/bin/env bash
# Start the SSB annotation server (MONAI Label) on a ready local studies folder. Called by `make serve`.
#
# The --conf settings come from sample-apps/ssb-local/server.conf; the studies folder is built on first run
# by scripts/make_demo_studies.py from the LIDC-IDRI demo in sample-apps/ssb-local/demo (nothing is downloaded).
#
#   SSB_MODEL_PATH   checkpoint to serve (default: model_path of the conf file, models/ssb_lidc64.pt)
#   SSB_STUDIES      studies folder (default .cache/studies)
#   SSB_CONF         conf file (default sample-apps/ssb-local/server.conf)
#   SSB_HOST         address to listen on (default 127.0.0.1)
#   SSB_PORT         port (default 8000)
#   SSB_PYTHON       interpreter with monailabel + ssb_core (default .venv/bin/python)
# Extra arguments go to `monailabel start_server` and win over the conf file,
# e.g. `bash scripts/serve.sh --conf model_path /data/my_model.pt --conf device cuda`.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${SSB_PYTHON:-.venv/bin/python}
CONF=${SSB_CONF:-sample-apps/ssb-local/server.conf}
STUDIES=${SSB_STUDIES:-.cache/studies}
HOST=${SSB_HOST:-127.0.0.1}
PORT=${SSB_PORT:-8000}

die() { echo "[serve] error: $*" >&2; exit 1; }

[ -x "$PY" ] || die "no Python at $PY: run 'make venv' (scripts/bootstrap.sh) first, or set SSB_PYTHON"
"$PY" -c "import monailabel, ssb_core" 2>/dev/null || die "$PY cannot import monailabel and ssb_core: run 'make venv'"
[ -f "$CONF" ] || die "conf file not found: $CONF"
[[ "$PORT" =~ ^[0-9]+$ ]] || die "SSB_PORT must be a number, got '$PORT'"

# conf file -> --conf KEY VALUE (later --conf arguments on the command line override these)
args=()
while read -r key value; do
  [[ -z "$key" || "$key" == \#* ]] && continue
  args+=(--conf "$key" "$value")
done < "$CONF"

model=$(awk '$1 == "model_path" {print $2}' "$CONF")
if [ -n "${SSB_MODEL_PATH:-}" ]; then model=$SSB_MODEL_PATH; args+=(--conf model_path "$model"); fi
for ((i = 1; i <= $#; i++)); do  # a model_path given on the command line wins
  if [[ "${!i}" == "model_path" ]]; then j=$((i + 1)); model=${!j}; fi
done
model=${model:-models/ssb_lidc64.pt}
[ -f "$model" ] || die "model checkpoint not found: $model (train one with: ssb-train --config configs/lidc64_cpu.yaml; or set SSB_MODEL_PATH=/path/to/model.pt)"

"$PY" - "$HOST" "$PORT" <<'PYEOF' || die "port $PORT on $HOST is already in use: set SSB_PORT to another port"
import socket, sys
with socket.socket() as s:
    s.bind((sys.argv[1], int(sys.argv[2])))
PYEOF

for ((i = 1; i <= $#; i++)); do  # --studies given on the command line wins (a folder or a DICOMweb URL)
  if [[ "${!i}" == "--studies" ]]; then j=$((i + 1)); STUDIES=${!j}; fi
done
if [[ "$STUDIES" == http://* || "$STUDIES" == https://* ]]; then
  :  # a DICOMweb server (PACS): nothing to build
elif [ ! -d "$STUDIES" ] || [ -z "$(ls -A "$STUDIES" 2>/dev/null)" ]; then
  echo "[serve] building the demo studies folder $STUDIES (first run)" >&2
  "$PY" scripts/make_demo_studies.py --out "$STUDIES" >&2
fi

URL="http://$HOST:$PORT"
echo "[serve] SSB annotation server: $URL"
echo "[serve]   models and parameters: $URL/info/    OHIF viewer: $URL/ohif/    API: $URL/docs"
echo "[serve]   3D Slicer: MONAI Label module, server $URL    (studies: $STUDIES; Ctrl-C stops it)"
# the monailabel entry point runs whatever `python` is first on PATH: put the venv's first
export PATH="$(cd "$(dirname "$PY")" && pwd):$PATH"
exec "$PY" -m monailabel.main start_server --app apps/ssb --studies "$STUDIES" --host "$HOST" --port "$PORT" "${args[@]}" "$@"
