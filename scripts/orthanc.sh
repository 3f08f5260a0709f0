#!/usr/bin/env bash
# A throw-away Orthanc DICOMweb server for development and tests, in the foreground (Ctrl-C stops it).
#
#   bash scripts/orthanc.sh [PORT]        # or ORTHANC_PORT=PORT bash scripts/orthanc.sh
#
# It writes its own configuration into a fresh temporary folder (storage and index there too, removed on
# exit), listens on 127.0.0.1 only (RemoteAccessAllowed false, no DICOM port), and loads the DICOMweb
# plugin, so the annotation server can use it as its studies:
#
#   bash scripts/serve.sh --studies http://127.0.0.1:PORT/dicom-web
#
# Upload DICOM files with `curl -X POST --data-binary @file.dcm http://127.0.0.1:PORT/instances`
# or through DICOMweb STOW-RS (`http://127.0.0.1:PORT/dicom-web/studies`).
#
#   PORT / ORTHANC_PORT   HTTP port (default 8042); must be free
#   ORTHANC_BIN           the Orthanc executable (default: Orthanc on PATH, else /usr/sbin/Orthanc)
#   ORTHANC_PLUGINS       folder holding libOrthancDicomWeb.so (default /usr/share/orthanc/plugins)
#   ORTHANC_DIR           working folder to use instead of a temporary one (kept on exit)
# Needs the Debian packages `orthanc` and `orthanc-dicomweb` (apt-get install -y orthanc orthanc-dicomweb).
# This is not a PACS: no authentication, no persistence. In a hospital, point the server at the real PACS.
set -euo pipefail

PORT=${1:-${ORTHANC_PORT:-8042}}
BIN=${ORTHANC_BIN:-$(command -v Orthanc || echo /usr/sbin/Orthanc)}
PLUGINS=${ORTHANC_PLUGINS:-/usr/share/orthanc/plugins}

die() { echo "[orthanc] error: $*" >&2; exit 1; }

[[ "$PORT" =~ ^[0-9]+$ ]] || die "the port must be a number, got '$PORT'"
[ -x "$BIN" ] || die "no Orthanc executable at $BIN: apt-get install -y orthanc orthanc-dicomweb (or set ORTHANC_BIN)"
[ -f "$PLUGINS/libOrthancDicomWeb.so" ] || die "no DICOMweb plugin in $PLUGINS: apt-get install -y orthanc-dicomweb (or set ORTHANC_PLUGINS)"
if command -v python3 >/dev/null; then
  python3 - "$PORT" <<'PYEOF' || die "port $PORT on 127.0.0.1 is already in use: give another port"
import socket, sys
with socket.socket() as s:
    s.bind(("127.0.0.1", int(sys.argv[1])))
PYEOF
fi

if [ -n "${ORTHANC_DIR:-}" ]; then
  WORK=$ORTHANC_DIR; mkdir -p "$WORK"
else
  WORK=$(mktemp -d -t ssb-orthanc.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT
fi

cat > "$WORK/orthanc.json" <<JSON
{
  "Name": "ssb-orthanc",
  "StorageDirectory": "$WORK/storage",
  "IndexDirectory": "$WORK/storage",
  "HttpPort": $PORT,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomServerEnabled": false,
  "HttpCompressionEnabled": false,
  "Plugins": ["$PLUGINS/libOrthancDicomWeb.so"],
  "DicomWeb": {"Enable": true, "Root": "/dicom-web/", "EnableWado": true, "Ssl": false, "StudiesMetadata": "Full", "SeriesMetadata": "Full"}
}
JSON

echo "[orthanc] DICOMweb: http://127.0.0.1:$PORT/dicom-web    (storage: $WORK; Ctrl-C stops it)" >&2
# not exec: the EXIT trap removes the temporary folder once Orthanc stops
"$BIN" "$WORK/orthanc.json" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
wait "$pid" || true
wait "$pid" 2>/dev/null || true
