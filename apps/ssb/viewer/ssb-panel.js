/*
 * SSB panel for the OHIF viewer served by the annotation server at /ohif/ (OHIF 3.10, inside MONAI Label 0.8.5).
 *
 * What a radiologist does (docs/viewers.md): type their name once, press "Click a lesion", click the lesion in
 * any viewport; the candidates appear as segments (one toggleable segmentation each, named with rank and size),
 * with the consensus shown and the variability map as a colour overlay; pick one and press "Save".
 *
 * How: the click's patient coordinates (cornerstone world = DICOM LPS, mm) go to POST /infer/ssb as
 * foreground_mm with include_masks; the answer's masks (lib/infers/masks_json.py) are placed voxel by voxel
 * through patient coordinates into OHIF labelmap segmentations (segmentationService). The pick is saved by
 * the server itself from the same sampled set (candidate=k, save_as=<reader>): a DICOM SEG in the PACS with
 * ContentCreatorName = the reader. Everything uses this page's own origin; nothing else is contacted.
 * Loaded by lib/viewer_page.py; window.ssbPanel exposes the state for tests and scripting.
 */
(function () {
  'use strict';
  if (window.ssbPanel) return;

  const SEG_PREFIX = 'ssb-';
  const state = { armed: false, busy: false, result: null, click: null, series: null, segmentations: [], pick: -1, saved: null,
    error: null, log: [] };
  window.ssbPanel = state;

  function log(msg) { state.log.push(msg); console.log('[ssb] ' + msg); }

  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === 'style') Object.assign(e.style, v); else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== false && v != null) e.setAttribute(k, v === true ? '' : v);
    });
    children.flat().forEach(c => e.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return e;
  }

  // ---------------------------------------------------------------- the panel
  const css = { position: 'fixed', left: '8px', bottom: '8px', width: '320px', maxHeight: '62vh', overflowY: 'auto',
    zIndex: 10000, background: '#090c29', color: '#e0e6ff', border: '1px solid #3a3f99', borderRadius: '6px',
    padding: '10px', font: '13px sans-serif', boxShadow: '0 2px 12px rgba(0,0,0,0.6)', display: 'none' };
  const input = { background: '#151a3d', color: '#fff', border: '1px solid #3a3f99', borderRadius: '3px', padding: '3px' };
  const button = { background: '#348cfd', color: '#fff', border: 'none', borderRadius: '4px', padding: '5px 10px',
    cursor: 'pointer', margin: '6px 6px 6px 0' };
  const ui = {};
  ui.reader = h('input', { id: 'ssb-reader', placeholder: 'your name', style: { ...input, width: '150px' },
    value: localStorage.getItem('ssb.reader') || '' });
  ui.reader.addEventListener('change', () => {
    localStorage.setItem('ssb.reader', ui.reader.value.trim());
    ui.readerState.textContent = readerText(ui.reader.value.trim());
    refresh();
  });
  ui.count = h('input', { id: 'ssb-count', type: 'number', min: 1, max: 32, value: 8, style: { ...input, width: '50px' } });
  ui.clickButton = h('button', { id: 'ssb-click', style: button, onclick: arm }, 'Click a lesion');
  ui.status = h('div', { id: 'ssb-status', style: { margin: '4px 0', minHeight: '16px', color: '#9ab' } },
    'Press "Click a lesion", then click on the lesion.');
  ui.list = h('div', { id: 'ssb-list' });
  ui.save = h('button', { id: 'ssb-save', style: { ...button, background: '#2a9d4a' }, onclick: save, disabled: true },
    'Save');
  ui.model = h('div', { id: 'ssb-model', style: { marginTop: '6px', color: '#9ab', fontSize: '12px' } });
  ui.readerState = h('div', { id: 'ssb-reader-state', style: { color: '#9ab', fontSize: '12px' } });
  ui.panel = h('div', { id: 'ssb-panel', style: css },
    h('div', { style: { fontWeight: 'bold', marginBottom: '6px' } }, 'SSB: candidates for one lesion'),
    h('div', {}, 'Reader ', ui.reader, '  N ', ui.count), ui.readerState, ui.clickButton, ui.status, ui.list, ui.save, ui.model);

  function setStatus(text, isError) {
    ui.status.textContent = text;
    ui.status.style.color = isError ? '#ff8080' : '#9ab';
    if (isError) { state.error = text; log('error: ' + text); }
  }

  function viewerReady() {
    const s = window.services;
    return !!(s && s.segmentationService && s.viewportGridService && window.cornerstone &&
      s.viewportGridService.getState().viewports && s.viewportGridService.getState().viewports.size);
  }

  setInterval(() => {  // shown once a study is open (not on the study list)
    if (!document.body.contains(ui.panel)) document.body.append(ui.panel);
    const show = viewerReady();
    if (show && ui.panel.style.display === 'none') pollModel();
    ui.panel.style.display = show ? 'block' : 'none';
  }, 500);

  // ---------------------------------------------------------------- the model's training, in words
  function modelText(ts) {  // train_stats of /info/ (lib/trainers/status.py)
    if (!ts) return '';
    const metric = ts.best_metric != null ? ` (Dice ${ts.best_metric.toFixed(2)} to the readers' held-out masks)` : '';
    switch (ts.status) {
      case 'running': return `Model: training, step ${ts.epoch} of ${ts.total_epochs}…`;
      case 'promoted': return `Model: updated by the last training run${metric}.`;
      case 'not promoted': return `Model: the last training run was not measurably better, kept the model${metric}: ${ts.reason || ''}`;
      case 'skipped': return `Model: the last training run was skipped: ${ts.reason || ''}`;
      case 'never trained': return 'Model: as shipped (not trained on this site\'s labels yet).';
      default: return `Model: ${ts.status}`;
    }
  }

  async function pollModel() {
    try {
      const info = await (await fetch('/info/', { credentials: 'same-origin' })).json();
      state.training = info.train_stats && info.train_stats.ssb;
      const ssb = info.ssb && info.ssb.ssb;
      state.readerStatus = (ssb && ssb.reader_map && ssb.reader_map.status) || {};
      ui.model.textContent = modelText(state.training);
      ui.readerState.textContent = readerText(ui.reader.value.trim());
    } catch (e) { log('info: ' + e); }
  }

  function readerText(name) {  // reader_map.status of /info/ (lib/readers.py): trained, pending, or never seen
    if (!name) return '';
    const status = (state.readerStatus || {})[name];
    if (status === 'trained') return `Your style (${name}): trained: the model has learned your outlines.`;
    if (status === 'pending') return `Your style (${name}): pending: your labels are saved; the model learns your style once a training run measures an improvement.`;
    return `Your style (${name}): never seen: save a candidate under your name to start teaching the model your style.`;
  }
  setInterval(() => { if (ui.panel.style.display !== 'none') pollModel(); }, 15000);

  // ---------------------------------------------------------------- the click
  function arm() {
    if (state.busy) return;
    state.armed = true;
    ui.clickButton.textContent = 'Now click on the lesion…';
    setStatus('Click on the lesion in any viewport (Esc cancels).');
  }

  function disarm() { state.armed = false; ui.clickButton.textContent = 'Click a lesion'; }

  document.addEventListener('keydown', e => { if (state.armed && e.key === 'Escape') { disarm(); setStatus('Cancelled.'); } });
  document.addEventListener('mousedown', onPointer, true);
  document.addEventListener('click', e => { if (state.swallowClick) { state.swallowClick = false; e.stopPropagation(); e.preventDefault(); } }, true);

  function onPointer(ev) {
    if (!state.armed || ui.panel.contains(ev.target)) return;
    const enabled = window.cornerstone.getEnabledElements().find(e => e.viewport.element.contains(ev.target));
    if (!enabled) return;
    ev.stopPropagation();
    ev.preventDefault();
    state.swallowClick = true;
    disarm();
    const vp = enabled.viewport;
    const canvas = vp.canvas || vp.element.querySelector('canvas');
    const r = canvas.getBoundingClientRect();
    const world = vp.canvasToWorld([ev.clientX - r.left, ev.clientY - r.top]);
    run(Array.from(world), vp.id);
  }

  function displaySetOf(viewportId) {
    const { viewportGridService, displaySetService } = window.services;
    const vp = viewportGridService.getState().viewports.get(viewportId);
    const uid = vp && vp.displaySetInstanceUIDs && vp.displaySetInstanceUIDs[0];
    return uid ? displaySetService.getDisplaySetByUID(uid) : null;
  }

  // ---------------------------------------------------------------- server
  async function infer(params) {
    const form = new FormData();
    form.append('params', JSON.stringify(params));
    const url = `/infer/ssb?image=${encodeURIComponent(state.series)}&output=json`;
    const r = await fetch(url, { method: 'POST', body: form, credentials: 'same-origin' });
    const text = await r.text();
    let body;
    try { body = JSON.parse(text); } catch (e) { body = { detail: text.slice(0, 300) }; }
    if (!r.ok) throw new Error(body.detail || `HTTP ${r.status}`);
    return body;
  }

  async function run(world, viewportId) {
    const displaySet = displaySetOf(viewportId);
    if (!displaySet) { setStatus('No series in that viewport.', true); return; }
    state.series = displaySet.SeriesInstanceUID;
    state.click = world;
    state.busy = true;
    state.pick = -1;
    state.saved = null;
    const n = Math.max(1, Math.min(32, parseInt(ui.count.value, 10) || 8));
    const t0 = performance.now();
    const timer = setInterval(() => setStatus(`Sampling ${n} candidates… ${((performance.now() - t0) / 1000).toFixed(0)} s`), 500);
    try {
      const res = await infer({ foreground_mm: [world], num_candidates: n, include_masks: true });
      clearInterval(timer);
      state.result = res;
      await draw(res, displaySet);
      centreOthers(world, viewportId);  // the other planes through the click
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      const how = res.cache.hit ? 'the set already sampled for this click' : `sampled in ${res.timings.sample_s.toFixed(1)} s`;
      setStatus(`${res.candidates.length} candidates (${how}; ${s} s in all). Tick to show, pick one to save.`);
      log(`infer done: ${res.candidates.length} candidates, context ${res.cache.context}`);
    } catch (e) {
      clearInterval(timer);
      setStatus('The server could not segment here: ' + e.message, true);
    } finally {
      state.busy = false;
      refresh();
    }
  }

  // ---------------------------------------------------------------- drawing
  // the other views (sagittal, coronal in the MPR layout) moved to the slice through the clicked point, with their
  // framing and zoom kept: the candidates are then seen in three planes at once, as a reader checks a lesion's extent
  function centreOthers(world, clickedId) {
    for (const { viewport: vp } of window.cornerstone.getEnabledElements()) {
      if (vp.id === clickedId || typeof vp.getCamera !== 'function') continue;
      try {
        const cam = vp.getCamera(), n = cam.viewPlaneNormal;
        const d = [0, 1, 2].reduce((sum, i) => sum + (world[i] - cam.focalPoint[i]) * n[i], 0);  // along the normal only
        vp.setCamera({ focalPoint: cam.focalPoint.map((v, i) => v + d * n[i]), position: cam.position.map((v, i) => v + d * n[i]) });
        vp.render();
      } catch (e) { log(`slice of ${vp.id}: ${e}`); }
    }
  }

  function bits(b64, count) {
    const raw = atob(b64), out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = (raw.charCodeAt(i >> 3) >> (7 - (i & 7))) & 1;
    return out;
  }

  function bytes(b64) {
    const raw = atob(b64), out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function serverToViewer(geometry, volume) {  // server voxel (i, j, k) -> index into this labelmap volume's data
    const { origin, spacing, direction } = geometry;
    const world = ijk => [0, 1, 2].map(r => origin[r] + [0, 1, 2].reduce((a, c) => a + direction[r][c] * spacing[c] * ijk[c], 0));
    const toIndex = ijk => volume.imageData.worldToIndex(world(ijk));
    const o = toIndex([0, 0, 0]);
    const axes = [[1, 0, 0], [0, 1, 0], [0, 0, 1]].map(e => toIndex(e).map((v, i) => v - o[i]));
    const [ni, nj, nk] = volume.dimensions;
    return (i, j, k) => {
      const p = [0, 1, 2].map(r => Math.round(o[r] + axes[0][r] * i + axes[1][r] * j + axes[2][r] * k));
      if (p[0] < 0 || p[1] < 0 || p[2] < 0 || p[0] >= ni || p[1] >= nj || p[2] >= nk) return -1;
      return p[0] + ni * (p[1] + nj * p[2]);
    };
  }

  function volumeSize(res) { const b = res.masks.box_ijk; return b.ni * b.nj * b.nk; }

  async function removeOurs() {
    const seg = window.services.segmentationService;
    for (const id of state.segmentations) { try { seg.remove(id); } catch (e) { log('remove ' + id + ': ' + e); } }
    state.segmentations = [];
  }

  const OUTLINE = { renderFill: false, renderFillInactive: false, renderOutline: true, renderOutlineInactive: true,
    outlineWidth: 1, outlineWidthInactive: 1, outlineOpacity: 1, outlineOpacityInactive: 1 };
  const FILL = { renderFill: true, renderFillInactive: true, fillAlpha: 0.55, fillAlphaInactive: 0.55, renderOutline: false,
    renderOutlineInactive: false };

  async function addSegmentation(displaySet, id, label, segments, values, style) {
    const segSvc = window.services.segmentationService;
    const config = {};
    segments.forEach(s => { config[s.index] = { segmentIndex: s.index, label: s.label, active: s.index === 1, locked: true, color: [...s.colour, 255] }; });
    await segSvc.createLabelmapForDisplaySet(displaySet, { segmentationId: id, label, segments: config });
    state.segmentations.push(id);
    const viewportIds = Array.from(window.services.viewportGridService.getState().viewports.keys());
    for (const viewportId of viewportIds) {  // on a volume viewport this makes the labelmap a volume
      await segSvc.addSegmentationRepresentation(viewportId, { segmentationId: id });
    }
    let volume = segSvc.getLabelmapVolume(id);
    for (let t = 0; !volume && t < 100; t++) {  // OHIF converts the labelmap to a volume asynchronously
      await new Promise(done => setTimeout(done, 100));
      volume = segSvc.getLabelmapVolume(id);
    }
    if (!volume) throw new Error(`OHIF made no labelmap volume for ${label}`);
    const data = volume.voxelManager.getCompleteScalarDataArray();
    const place = serverToViewer(state.result.masks.geometry, volume);
    const b = state.result.masks.box_ijk;
    let n = 0, placed = 0;
    for (let k = 0; k < b.nk; k++) for (let j = 0; j < b.nj; j++) for (let i = 0; i < b.ni; i++) {
      const v = values[n++];
      if (!v) continue;
      const idx = place(b.i0 + i, b.j0 + j, b.k0 + k);
      if (idx >= 0) { data[idx] = v; placed++; }
    }
    volume.voxelManager.setCompleteScalarDataArray(data);
    window.cornerstone.triggerEvent(window.cornerstone.eventTarget, window.cornerstoneTools.Enums.Events.SEGMENTATION_DATA_MODIFIED,
      { segmentationId: id });
    // its own colour table: representations otherwise share OHIF's first one, and a colour set for one would
    // recolour them all
    const colour = window.cornerstoneTools.segmentation.config.color;
    const lut = [[0, 0, 0, 0]];
    segments.forEach(s => { lut[s.index] = [...s.colour, 255]; });
    for (let i = 1; i < lut.length; i++) lut[i] = lut[i] || [0, 0, 0, 0];
    const lutIndex = colour.addColorLUT(lut);
    for (const viewportId of viewportIds) {
      colour.setColorLUT(viewportId, id, lutIndex);
      try {  // candidates and consensus as outlines (they overlap), the variability map filled
        window.cornerstoneTools.segmentation.config.style.setStyle(
          { type: window.cornerstoneTools.Enums.SegmentationRepresentations.Labelmap, viewportId, segmentationId: id }, style);
      } catch (e) { log('style: ' + e); }
    }
    state.placed = state.placed || {};
    state.placed[id] = placed;
  }

  // Only the consensus is made at once; a candidate's or the variability map's labelmap (a full-size volume in the
  // browser: 34 MB for a 512 x 512 x 130 CT) is made the first time it is ticked.
  async function draw(res, displaySet) {
    await removeOurs();
    const m = res.masks, size = volumeSize(res);
    const all = bits(m.candidates, size * m.num_candidates);
    state.displaySet = displaySet;
    state.rows = res.candidates.map(c => {
      const name = c.name, colour = c.colour;  // the server's name and colour (the same in 3D Slicer)
      return { id: `${SEG_PREFIX}candidate-${c.index}`, index: c.index, rank: c.rank, name, colour, visible: false, created: false,
        segments: [{ index: 1, label: name, colour }], values: all.subarray(c.index * size, (c.index + 1) * size), style: OUTLINE };
    }).sort((a, b) => a.rank - b.rank);
    const levels = m.level_segments.map(l => ({ index: l.value, label: l.name, colour: l.colour }));  // the server's scale
    state.consensus = { id: `${SEG_PREFIX}consensus`, name: 'consensus', visible: true, created: false,
      segments: [{ index: 1, label: 'consensus', colour: m.consensus_colour }], values: bits(m.consensus, size), style: OUTLINE };
    state.variability = { id: `${SEG_PREFIX}variability`, name: 'variability', visible: false, created: false, segments: levels,
      values: bytes(m.variability), style: FILL };
    await ensure(state.consensus);
    applyVisibility();
    buildList(levels);
  }

  async function ensure(layer) {  // the layer's OHIF segmentation, made on first use
    if (layer.created) return;
    layer.created = true;
    await addSegmentation(state.displaySet, layer.id, layer.name, layer.segments, layer.values, layer.style);
  }

  function setVisible(id, segmentIndices, visible) {
    const segSvc = window.services.segmentationService;
    for (const viewportId of window.services.viewportGridService.getState().viewports.keys()) {
      for (const s of segmentIndices) segSvc.setSegmentVisibility(viewportId, id, s, visible);
    }
  }

  function applyVisibility() {
    for (const layer of [...state.rows, state.consensus, state.variability]) {
      if (layer.created) setVisible(layer.id, layer.segments.map(s => s.index), layer.visible);
    }
  }

  function swatch(rgb) {
    return h('span', { style: { display: 'inline-block', width: '10px', height: '10px', margin: '0 4px',
      background: `rgb(${rgb.join(',')})` } });
  }

  function buildList(levels) {
    ui.list.innerHTML = '';
    const toggle = layer => h('input', { type: 'checkbox', checked: layer.visible, onchange: async e => {
      layer.visible = e.target.checked;
      e.target.disabled = true;
      try { if (layer.visible) await ensure(layer); applyVisibility(); }
      catch (err) { setStatus(`Cannot show ${layer.name}: ${err.message}`, true); }
      finally { e.target.disabled = false; }
    } });
    ui.list.append(h('div', { 'data-ssb': 'consensus' }, toggle(state.consensus), swatch(state.consensus.segments[0].colour),
      'consensus (half the candidates or more)'));
    const bar = h('span', { style: { display: 'inline-block', width: '90px', height: '10px', margin: '0 4px', verticalAlign: 'middle',
      background: `linear-gradient(to right, ${levels.map(l => `rgb(${l.colour.join(',')})`).join(',')})` } });
    ui.list.append(h('div', { 'data-ssb': 'variability' }, toggle(state.variability), 'variability ', bar, ' 0 → 1'));
    ui.list.append(h('div', { style: { margin: '6px 0 2px', color: '#9ab' } }, 'show · pick · candidate (rank 1 = most typical)'));
    for (const row of state.rows) {
      const pick = h('input', { type: 'radio', name: 'ssb-pick', value: row.index, onchange: () => { state.pick = row.index; refresh(); } });
      ui.list.append(h('div', { 'data-ssb': `candidate-${row.index}` }, toggle(row), pick, swatch(row.colour), row.name));
    }
  }

  // ---------------------------------------------------------------- saving the pick
  function refresh() {
    const reader = ui.reader.value.trim();
    const ok = state.result && state.pick >= 0 && reader && !state.busy;
    ui.save.disabled = !ok;
    ui.save.style.opacity = ok ? '1' : '0.5';
    ui.save.textContent = state.pick >= 0 ? `Save candidate ${state.pick} as ${reader || '(type your name)'}` : 'Save (pick a candidate)';
  }

  async function save() {
    const reader = ui.reader.value.trim();
    if (!state.result || state.pick < 0 || !reader) return;
    localStorage.setItem('ssb.reader', reader);
    state.busy = true;
    refresh();
    setStatus(`Saving candidate ${state.pick} as ${reader}…`);
    try {
      const p = state.result.params;
      const res = await infer({ foreground_mm: [state.click], num_candidates: p.num_candidates, nfe: p.nfe, seed: p.seed,
        guidance_weight: p.guidance_weight, reader: p.reader, candidate: state.pick, save_as: reader });
      state.saved = res.saved;
      setStatus(`Saved candidate ${state.pick} as ${reader}'s label` + (res.saved.seg_series ? ' (DICOM SEG in the PACS).' : '.'));
      log(`saved candidate ${state.pick} as ${reader}; same sampled set: ${res.cache.hit}`);
      pollModel();  // the reader is now pending (or still trained)
    } catch (e) {
      setStatus('Not saved: ' + e.message, true);
    } finally {
      state.busy = false;
      refresh();
    }
  }

  refresh();
})();
