#!/usr/bin/env bash
# Start the SSB annotation server (MONAI Label) with the demo study. Called by `make serve`.
#
# The --conf settings come from sample-apps/ssb-local/server.conf. The demo is the LIDC-IDRI chest CT region in
# sample-apps/ssb-local/demo (nothing is downloaded). Where it goes:
#
# - Orthanc installed (Debian packages orthanc + orthanc-dicomweb; as root this script installs them with
#   apt-get when they are missing): a local Orthanc PACS on 127.0.0.1 (scripts/orthanc.sh, storage kept in
#   .cache/orthanc, so readers' SEGs survive a restart) holds the demo CT as a DICOM series
#   (scripts/demo_pacs.py) and is the server's DICOMweb studies; OHIF at /ohif/ and 3D Slicer both work;
# - otherwise: a local studies folder (scripts/make_demo_studies.py, with the four readers' labels); 3D Slicer
#   works, OHIF does not (it needs DICOMweb), and the script says so.
#
#   SSB_MODEL_PATH   checkpoint to serve (default: model_path of the conf file, models/ssb_lidc128.pt)
#   SSB_STUDIES      studies folder or DICOMweb URL (default: the local Orthanc above, else .cache/studies)
#   SSB_PACS         auto (default: Orthanc when installed), orthanc (fail without it) or folder
#   SSB_ORTHANC_PORT port of the local Orthanc (default 8042, else a free one)
#   SSB_CACHE        folder for what the script builds and keeps: Orthanc's storage, the DICOM files of the demo,
#                    MONAI Label's DICOMweb cache (default .cache)
#   SSB_CONF         conf file (default sample-apps/ssb-local/server.conf)
#   SSB_HOST         address to listen on (default 127.0.0.1). Beyond loopback (0.0.0.0, a LAN address) only with
#                    sign-in on, or with SSB_ALLOW_OPEN=1 (apps/ssb/lib/identity/exposure.py; the server checks it too)
#   SSB_OIDC_DISCOVERY_URL, SSB_OIDC_AUDIENCE (and the other SSB_OIDC_* settings): sign-in with an OpenID Connect
#                    provider, off by default: one local user (docs/signin.md)
#   SSB_ALLOW_OPEN   1 = listen beyond loopback with sign-in off (a trusted network: anyone reaching the port can
#                    read and write everything)
#   SSB_PORT         port (default 8000)
#   SSB_PYTHON       interpreter with monailabel + ssb_core (default .venv/bin/python)
# Extra arguments go to `monailabel start_server` and win over the conf file,
# e.g. `bash scripts/serve.sh --conf model_path /data/my_model.pt --conf device cuda`.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${SSB_PYTHON:-.venv/bin/python}
CONF=${SSB_CONF:-sample-apps/ssb-local/server.conf}
STUDIES=${SSB_STUDIES:-}
PACS=${SSB_PACS:-auto}
CACHE=${SSB_CACHE:-.cache}
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
model=${model:-models/ssb_lidc128.pt}
# no server open to the network without sign-in, unless told so (the same check the server makes at start-up)
why=$(PYTHONPATH=apps/ssb "$PY" -m lib.identity.exposure "$HOST" "${args[@]}" "$@" 2>&1) || die "$why"
[ -f "$model" ] || die "model checkpoint not found: $model (train one with: ssb-train --config configs/lidc64_cpu.yaml; or set SSB_MODEL_PATH=/path/to/model.pt)"

# port_free HOST PORT: whether a server could listen there now. SO_REUSEADDR as uvicorn and Orthanc bind: the
# TIME-WAIT connections a closed browser tab leaves for a minute after a stop do not keep the port (a listener does)
port_free() { "$PY" -c "import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)" "$1" "$2" 2>/dev/null; }
port_free "$HOST" "$PORT" || die "port $PORT on $HOST is already in use: set SSB_PORT to another port"

for ((i = 1; i <= $#; i++)); do  # --studies given on the command line wins (a folder or a DICOMweb URL)
  if [[ "${!i}" == "--studies" ]]; then j=$((i + 1)); STUDIES=${!j}; fi
done

ORTHANC_BIN=${ORTHANC_BIN:-$(command -v Orthanc || echo /usr/sbin/Orthanc)}
ORTHANC_PLUGIN=${ORTHANC_PLUGINS:-/usr/share/orthanc/plugins}/libOrthancDicomWeb.so
have_orthanc() { [ -x "$ORTHANC_BIN" ] && [ -f "$ORTHANC_PLUGIN" ]; }
if [ -z "$STUDIES" ] && [ "$PACS" != folder ] && ! have_orthanc; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[serve] installing Orthanc and its DICOMweb plugin (apt-get install -y orthanc orthanc-dicomweb)" >&2
    { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends orthanc orthanc-dicomweb >&2 \
      || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends orthanc orthanc-dicomweb >&2; }; } \
      || echo "[serve] warning: apt-get could not install Orthanc" >&2
    # the package starts a system-wide Orthanc service on 8042; ours runs on its own, so stop that one
    command -v service >/dev/null && service orthanc stop >/dev/null 2>&1 || true
  fi
fi

ORTHANC_PID=
stop_orthanc() { if [ -n "$ORTHANC_PID" ]; then kill -TERM "$ORTHANC_PID" 2>/dev/null || true; wait "$ORTHANC_PID" 2>/dev/null || true; fi; }
if [ -z "$STUDIES" ] && [ "$PACS" != folder ] && have_orthanc; then
  OPORT=${SSB_ORTHANC_PORT:-8042}
  if ! port_free 127.0.0.1 "$OPORT"; then
    OPORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  fi
  mkdir -p "$CACHE"
  CACHE=$(cd "$CACHE" && pwd)
  echo "[serve] starting the local Orthanc PACS on 127.0.0.1:$OPORT (storage $CACHE/orthanc, log $CACHE/orthanc.log)" >&2
  ORTHANC_DIR=$CACHE/orthanc bash scripts/orthanc.sh "$OPORT" > "$CACHE/orthanc.log" 2>&1 &
  ORTHANC_PID=$!
  trap stop_orthanc EXIT
  trap 'exit 130' INT TERM
  "$PY" - "$OPORT" <<'PYEOF' || { tail -20 "$CACHE/orthanc.log" >&2; die "Orthanc did not start (log above)"; }
import sys, time, urllib.request
for _ in range(150):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/system", timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PYEOF
  STUDIES=http://127.0.0.1:$OPORT/dicom-web
  "$PY" scripts/demo_pacs.py --dicomweb "$STUDIES" --series "$CACHE/demo_dicom" >&2 \
    || die "could not store the demo CT in Orthanc ($CACHE/orthanc.log)"
  export MONAI_LABEL_DICOMWEB_CACHE_PATH=${MONAI_LABEL_DICOMWEB_CACHE_PATH:-$CACHE/dicomweb}
elif [ -z "$STUDIES" ]; then
  [ "$PACS" = orthanc ] && die "SSB_PACS=orthanc but Orthanc is not installed: apt-get install -y orthanc orthanc-dicomweb"
  [ "$PACS" = folder ] || echo "[serve] note: Orthanc is not installed, so OHIF cannot show the demo (it needs DICOMweb); \
3D Slicer works. For OHIF: apt-get install -y orthanc orthanc-dicomweb (as root), then make serve again" >&2
  STUDIES=$CACHE/studies
fi

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
if [ -z "$ORTHANC_PID" ]; then
  exec "$PY" -m monailabel.main start_server --app apps/ssb --studies "$STUDIES" --host "$HOST" --port "$PORT" "${args[@]}" "$@"
fi
# with the local Orthanc: stay the parent, so that it stops with the server (EXIT trap)
"$PY" -m monailabel.main start_server --app apps/ssb --studies "$STUDIES" --host "$HOST" --port "$PORT" "${args[@]}" "$@" &
SERVER_PID=$!
trap 'kill -TERM "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; exit 130' INT TERM
wait "$SERVER_PID"
