#!/usr/bin/env bash
# Create (or reuse) .venv and install the project into it. Called by `make serve` and `make test`.
#
#   SSB_EXTRAS        extras to install (default "app,dev")
#   SSB_TORCH_SPEC    torch requirement installed only when no torch is importable (default torch==2.13.0,
#                     the CPU wheel); on a GPU server create the venv with SSB_SYSTEM_SITE=1 to reuse the
#                     CUDA torch already installed system-wide, or install your own torch first.
#   SSB_SYSTEM_SITE   1 = create .venv with --system-site-packages
#   SSB_PYTHON        the interpreter to create .venv with (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PY=${SSB_PYTHON:-python3}
EXTRAS=${SSB_EXTRAS:-app,dev}
TORCH_SPEC=${SSB_TORCH_SPEC:-torch==2.13.0}

log() { echo "[bootstrap] $*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  if [ "${SSB_SYSTEM_SITE:-0}" = 1 ]; then "$PY" -m venv --system-site-packages "$VENV"; else "$PY" -m venv "$VENV"; fi
fi
VPY="$VENV/bin/python"

stamp="$VENV/.ssb-installed"
want=$(cat pyproject.toml requirements/*.txt scripts/bootstrap.sh | sha256sum | cut -c1-16)-$EXTRAS
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if ! "$VPY" -c "import torch" 2>/dev/null; then
  log "installing $TORCH_SPEC (no torch found in $VENV)"
  "$VPY" -m pip install -q "$TORCH_SPEC"
fi
log "installing ssb-core[$EXTRAS] (editable)"
"$VPY" -m pip install -q -e ".[$EXTRAS]"
if [[ ",$EXTRAS," == *",app,"* ]]; then
  log "installing monailabel without its unsatisfiable pins"
  "$VPY" -m pip install -q --no-deps -r requirements/monailabel-nodeps.txt
fi
echo "$want" > "$stamp"
log "ready: $VENV"
