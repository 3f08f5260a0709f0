/*
 * What the SSB panel's files share (loaded first, lib/viewer_page.py): a log, a DOM helper, volumes in words, and
 * masks in the server's encoding with the maps between the server's voxel grid and OHIF's.
 *
 * A mask here is { box: {i0, j0, k0, ni, nj, nk}, values: Uint8Array } on the server's voxel grid (i = column,
 * j = row, k = slice; values in C order over (k, j, i)): the form of the infer answer's candidates and of a saved
 * lesion (apps/ssb/lib/infers/masks_json.py, which also sends an edited mask back: { box_ijk, bits }, bits = base64
 * of the packed bits, most significant first).
 * window.ssb holds the panel's modules; this file adds log, h, labelled, css, swatch, volumeText, answer, masks and grid.
 */
(function () {
  'use strict';
  const ssb = window.ssb = window.ssb || {};
  if (ssb.masks) return;

  ssb.logLines = [];
  ssb.log = msg => { ssb.logLines.push(msg); console.log('[ssb] ' + msg); };

  // an element with attributes ('style' an object, 'on...' listeners) and children (nodes or text)
  ssb.h = function (tag, attrs, ...children) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === 'style') Object.assign(e.style, v); else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== false && v != null) e.setAttribute(k, v === true ? '' : v);
    });
    children.flat().forEach(c => e.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return e;
  };

  // a control with its label in front, kept on one line
  ssb.labelled = (text, ...children) => ssb.h('label', { style: { marginRight: '8px', whiteSpace: 'nowrap' } }, text, ' ', ...children);

  // the panel's look, on OHIF's dark side panel
  ssb.css = {
    input: { background: '#151a3d', color: '#fff', border: '1px solid #3a3f99', borderRadius: '3px', padding: '2px 3px' },
    button: { background: '#348cfd', color: '#fff', border: 'none', borderRadius: '4px', padding: '4px 9px', cursor: 'pointer',
      margin: '4px 4px 4px 0' },
    heading: { fontWeight: 'bold', margin: '10px 0 3px', color: '#c8d0ff' },
    muted: { color: '#9ab', fontSize: '12px' },
    range: { appearance: 'auto', background: 'transparent', accentColor: '#348cfd', verticalAlign: 'middle', height: '14px' },  // OHIF's CSS hides sliders
  };

  ssb.swatch = rgb => ssb.h('span', { style: { display: 'inline-block', width: '10px', height: '10px', margin: '0 4px',
    background: `rgb(${rgb.join(',')})`, flex: '0 0 auto' } });

  // mm3 below 1000, ml above: the unit of the server's candidate names (lib/candidate_set.candidate_name)
  ssb.volumeText = mm3 => (mm3 >= 1000 ? `${(mm3 / 1000).toFixed(2)} ml` : `${mm3.toFixed(0)} mm3`);

  // JSON of a response of this server: the body, or an Error with its 'detail' (MONAI Label's and the app's errors)
  ssb.answer = async function (response) {
    const text = await response.text();
    let body;
    try { body = JSON.parse(text); } catch (e) { body = { detail: text.slice(0, 300) }; }
    if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
    return body;
  };

  // ---------------------------------------------------------------- masks
  function unpack(b64, count) {
    const raw = atob(b64), out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = (raw.charCodeAt(i >> 3) >> (7 - (i & 7))) & 1;
    return out;
  }

  function pack(values) {
    const out = new Uint8Array((values.length + 7) >> 3);
    for (let i = 0; i < values.length; i++) if (values[i]) out[i >> 3] |= 0x80 >> (i & 7);
    let s = '';
    for (let i = 0; i < out.length; i += 0x8000) s += String.fromCharCode.apply(null, out.subarray(i, i + 0x8000));
    return btoa(s);
  }

  function bytes(b64) {
    const raw = atob(b64), out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  const size = box => box.ni * box.nj * box.nk;

  const fromJson = json => ({ box: json.box_ijk, values: unpack(json.bits, size(json.box_ijk)) });
  const toJson = mask => ({ box_ijk: mask.box, bits: pack(mask.values) });

  function count(mask) {
    let n = 0;
    for (const v of mask.values) if (v) n++;
    return n;
  }

  function forEachVoxel(mask, visit) {  // visit(i, j, k, value) for every non-zero voxel, in server indices
    const { i0, j0, k0, ni, nj, nk } = mask.box;
    let n = 0;
    for (let k = 0; k < nk; k++) for (let j = 0; j < nj; j++) for (let i = 0; i < ni; i++) {
      const v = mask.values[n++];
      if (v) visit(i0 + i, j0 + j, k0 + k, v);
    }
  }

  function valueAt(mask, i, j, k) {
    const { i0, j0, k0, ni, nj, nk } = mask.box;
    const a = i - i0, b = j - j0, c = k - k0;
    return a < 0 || b < 0 || c < 0 || a >= ni || b >= nj || c >= nk ? 0 : mask.values[a + ni * (b + nj * c)];
  }

  function overlap(a, b) {  // voxels in both masks
    let n = 0;
    forEachVoxel(a, (i, j, k) => { if (valueAt(b, i, j, k)) n++; });
    return n;
  }

  const same = (a, b) => { const n = count(a); return n === count(b) && overlap(a, b) === n; };

  ssb.masks = { unpack, bytes, size, fromJson, toJson, count, forEachVoxel, overlap, same };

  // ---------------------------------------------------------------- the server's voxel grid and OHIF's
  // geometry: the server's { origin, spacing, direction } (voxel (i, j, k) lies at origin + direction @ (spacing * ijk));
  // imageData: an OHIF volume's vtkImageData (indexToWorld / worldToIndex). Both grids meet in patient coordinates
  // (DICOM LPS, mm), so a volume OHIF built in another slice order still gets every voxel where the server put it.
  function serverWorld(geometry) {
    const { origin, spacing, direction } = geometry;
    return ijk => [0, 1, 2].map(r => origin[r] + [0, 1, 2].reduce((a, c) => a + direction[r][c] * spacing[c] * ijk[c], 0));
  }

  function serverIndex(geometry) {  // the inverse of serverWorld (direction is orthonormal: its inverse is its transpose)
    const { origin, spacing, direction } = geometry;
    return w => [0, 1, 2].map(c => [0, 1, 2].reduce((a, r) => a + direction[r][c] * (w[r] - origin[r]), 0) / spacing[c]);
  }

  // an affine map between two grids as a function of integer indices (rounded), from where it sends the origin
  // and the three unit steps
  function affine(map) {
    const o = map([0, 0, 0]);
    const axes = [[1, 0, 0], [0, 1, 0], [0, 0, 1]].map(e => map(e).map((v, i) => v - o[i]));
    return (a, b, c) => [0, 1, 2].map(r => Math.round(o[r] + axes[0][r] * a + axes[1][r] * b + axes[2][r] * c));
  }

  // server voxel (i, j, k) -> index into the volume's scalar data, or -1 outside it
  function toViewer(geometry, volume) {
    const world = serverWorld(geometry);
    const map = affine(ijk => volume.imageData.worldToIndex(world(ijk)));
    const [ni, nj, nk] = volume.dimensions;
    return (i, j, k) => {
      const p = map(i, j, k);
      if (p[0] < 0 || p[1] < 0 || p[2] < 0 || p[0] >= ni || p[1] >= nj || p[2] >= nk) return -1;
      return p[0] + ni * (p[1] + nj * p[2]);
    };
  }

  // index into the volume's scalar data -> server voxel [i, j, k]
  function toServer(geometry, volume) {
    const index = serverIndex(geometry);
    const map = affine(p => index(volume.imageData.indexToWorld(p)));
    const [ni, nj] = volume.dimensions;
    return idx => map(idx % ni, Math.floor(idx / ni) % nj, Math.floor(idx / (ni * nj)));
  }

  ssb.grid = { toViewer, toServer };
})();
