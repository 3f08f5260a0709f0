#!/usr/bin/env bash
# Create (or reuse) .venv and install the project into it. Called by `make serve` and `make test`.
#
#   SSB_EXTRAS        extras to install (default "app,dev"); those installed before are kept
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

# The stamp holds the hash of the install recipe and the extras installed. One venv serves every command: a
# command wanting extras already there (make serve's app,dev after .ci/run's app,dev,browser) installs nothing,
# one wanting more installs the union (extras are only ever added).
stamp="$VENV/.ssb-installed"
hash=$(cat pyproject.toml requirements/*.txt scripts/bootstrap.sh | sha256sum | cut -c1-16)
have_hash="" have_extras=""
if [ -f "$stamp" ]; then read -r have_hash have_extras < "$stamp" || true; fi
if [[ "$have_hash" == *-* ]]; then have_extras=${have_hash#*-}; have_hash=${have_hash%%-*}; fi  # the older "hash-extras"
EXTRAS=$(printf '%s\n' ${have_extras//,/ } ${EXTRAS//,/ } | sort -u | paste -sd, -)
if [ "$have_hash" = "$hash" ] && [ "$have_extras" = "$EXTRAS" ]; then
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
echo "$hash $EXTRAS" > "$stamp"
log "ready: $VENV"
