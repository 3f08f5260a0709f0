/*
 * SSB panel for the OHIF viewer served by the annotation server at /ohif/ (OHIF 3.10, inside MONAI Label 0.8.5).
 *
 * What a radiologist does (docs/viewers.md): type their name once (with sign-in on, it is the signed-in user's:
 * ssb-reader.js), press "Click a lesion", click the lesion in any view; the candidates appear (filled and
 * outlined, the hovered or picked one stronger), with the consensus and the variability map; pick one, touch it up with OHIF's brush if needed, and Save it as one lesion of theirs.
 * The lesions already saved on the series are listed and drawn under the candidates (ssb-lesions.js).
 *
 * How: the panel is a tab of OHIF's right side panel (ssb-ohif.js), so it never covers an image. The click's
 * patient coordinates (cornerstone world = DICOM LPS, mm) go to POST /infer/ssb as foreground_mm with
 * include_masks; the answer's masks (lib/infers/masks_json.py) are placed voxel by voxel through patient
 * coordinates into OHIF labelmap segmentations. Save posts to the server's label service (POST /ssb/lesions):
 * candidate k of the same sampled set, or, when the reader edited it, the labelmap read back onto the server's
 * voxel grid ("edited"); the server adds it as a lesion or replaces the lesion it overlaps, and sends the
 * reader's DICOM SEG (one segment per lesion) to the PACS. Everything uses this page's own origin.
 * Loaded by lib/viewer_page.py after ssb-base.js, ssb-ohif.js, ssb-lesions.js (the saved lesions), ssb-reader.js
 * (who reads, the model's state) and ssb-edit.js (the brush); window.ssbPanel exposes the state for tests and scripting.
 */
(function () {
  'use strict';
  if (window.ssbPanel) return;
  const ssb = window.ssb;
  const { h, log, masks, ohif, css, swatch, volumeText, answer } = ssb;

  const SEG_PREFIX = 'ssb-';
  const DEFAULT_MAX_N = 32;  // the server's max_candidates default (lib/configs/ssb.py), when /info/ does not say
  const LOOK = { fill: 0.25, outline: 2 };  // fill opacity, outline width (px) of candidates and saved lesions
  const state = { armed: false, busy: false, result: null, click: null, series: null, segmentations: [], placed: {}, pick: -1,
    hover: -1, editing: null, radius: 3, saved: null, sent: null, error: null, maxCandidates: DEFAULT_MAX_N, lastClick: -1e9,
    look: { ...LOOK, ...JSON.parse(localStorage.getItem('ssb.look') || '{}') }, log: ssb.logLines };
  window.ssbPanel = state;

  // ---------------------------------------------------------------- the panel
  const ui = {};
  const { labelled } = ssb;
  const reader = ssb.reader.create({ changed: readerChanged, info: infoChanged });
  ui.count = h('input', { id: 'ssb-count', type: 'number', min: 1, max: DEFAULT_MAX_N, value: 8, style: { ...css.input, width: '46px' } });
  ui.clickButton = h('button', { id: 'ssb-click', style: css.button, onclick: arm }, 'Click a lesion');
  ui.status = h('div', { id: 'ssb-status', style: { margin: '4px 0', minHeight: '16px', color: '#9ab' } },
    'Press "Click a lesion", then click on the lesion.');
  ui.fill = h('input', { id: 'ssb-fill', type: 'range', min: 0, max: 1, step: 0.05, value: state.look.fill, style: { ...css.range, width: '64px' },
    oninput: () => lookChanged('fill', parseFloat(ui.fill.value)) });
  ui.outline = h('input', { id: 'ssb-outline', type: 'range', min: 1, max: 5, step: 1, value: state.look.outline, style: { ...css.range, width: '48px' },
    oninput: () => lookChanged('outline', parseInt(ui.outline.value, 10)) });
  ui.lookText = h('span', { id: 'ssb-look-text' });
  ui.list = h('div', { id: 'ssb-list' });
  ui.save = h('button', { id: 'ssb-save', style: { ...css.button, background: '#2a9d4a', whiteSpace: 'normal', textAlign: 'left' },
    onclick: save, disabled: true }, 'Save');
  const edit = ssb.edit.create({ state, rowOf: index => rowOf(index), show: (layer, visible) => show(layer, visible),
    status: (text, isError) => setStatus(text, isError), refresh: () => refresh() });
  const lesions = ssb.lesions.create({ reader: reader.name, status: setStatus, look: () => maskLook(false) });
  state.lesions = lesions.state;
  ui.panel = h('div', { id: 'ssb-panel', style: { padding: '8px', font: '13px sans-serif', color: '#e0e6ff', boxSizing: 'border-box' } },
    h('div', { style: { ...css.heading, marginTop: 0 } }, 'SSB: candidates for one lesion'),
    reader.element,
    h('div', {}, labelled('N', ui.count), ui.clickButton), ui.status,
    h('div', { style: css.muted }, labelled('Fill', ui.fill), labelled('Outline', ui.outline), ui.lookText),
    ui.list, edit.element, ui.save, lesions.element, reader.model);

  function setStatus(text, isError, extra) {
    ui.status.textContent = text;
    if (extra) ui.status.append(' ', extra);
    ui.status.style.color = isError ? '#ff8080' : '#9ab';
    if (isError) { state.error = text; log('error: ' + text); }
  }

  function modeHint(displaySet) {  // OHIF's Basic Viewer shows stacks of images: nothing 3D can be drawn there
    const link = displaySet && h('a', { href: ohif.monaiLabelModeUrl(displaySet), id: 'ssb-mode-link', style: { color: '#8cf' } },
      'Open it there now');
    setStatus(`${ohif.NO_VOLUME}.`, true, link || '');
  }

  // ---------------------------------------------------------------- following the viewer
  setInterval(tick, 500);

  function tick() {
    if (!ohif.studyOpen()) return;
    try { ohif.dock(ui.panel, 'SSB candidates'); } catch (e) { if (!state.dockError) { state.dockError = String(e); log('dock: ' + e); } }
    const views = window.cornerstone.getEnabledElements();
    const displaySet = ohif.shownDisplaySet();
    const key = displaySet && `${location.pathname} ${displaySet.SeriesInstanceUID}`;
    if (!key || key === state.opened || !views.length || !views.every(e => e.viewport.getActors().length)) return;
    const volumes = ohif.volumeViewports().length > 0;
    // in the MONAI Label mode the volumes come a moment after the first images (a slow machine: seconds): wait for
    // them, up to 60 s, before saying that this view cannot show candidates in 3D
    state.waiting = state.waiting && state.waiting.key === key ? state.waiting : { key, since: performance.now() };
    if (!volumes && ohif.inMonaiLabelMode() && performance.now() - state.waiting.since < 60000) return;
    state.opened = key;  // a series opened (or the same one in another mode): its lesions, the model's state
    reader.poll();
    if (!volumes) modeHint(displaySet);
    lesions.open(displaySet.SeriesInstanceUID, displaySet, volumes);
  }

  // ---------------------------------------------------------------- the reader (ssb-reader.js)
  function infoChanged(info) {  // the server's max_candidates bounds N
    const ssbInfo = info.ssb && info.ssb.ssb;
    state.maxCandidates = (ssbInfo && ssbInfo.max_candidates) || DEFAULT_MAX_N;
    ui.count.max = state.maxCandidates;
  }

  function readerChanged() {
    if (lesions.state.series) lesions.redraw();
    refresh();
  }

  // ---------------------------------------------------------------- the click
  function candidateCount() {  // N as typed, or null (said in the status) when it is not 1 .. max
    const text = ui.count.value.trim(), n = Number(text);
    if (text && Number.isInteger(n) && n >= 1 && n <= state.maxCandidates) return n;
    setStatus(`N must be a whole number from 1 to ${state.maxCandidates} (the server's max_candidates), got "${text}".`, true);
    return null;
  }

  function arm() {
    if (state.busy || candidateCount() === null) return;
    if (!ohif.volumeViewports().length) { modeHint(ohif.shownDisplaySet()); return; }
    edit.stop();
    state.armed = true;
    state.error = null;
    ui.clickButton.textContent = 'Now click on the lesion…';
    setStatus('Click on the lesion in any view (Esc cancels).');
  }

  function disarm() { state.armed = false; ui.clickButton.textContent = 'Click a lesion'; }

  document.addEventListener('keydown', e => { if (state.armed && e.key === 'Escape') { disarm(); setStatus('Cancelled.'); } });
  document.addEventListener('mousedown', onPointer, true);
  document.addEventListener('click', e => { if (state.swallowClick) { state.swallowClick = false; e.stopPropagation(); e.preventDefault(); } }, true);
  // a double-click on the lesion (armed, just after the click, or while painting) would maximise the view in OHIF
  document.addEventListener('dblclick', e => {
    if (ui.panel.contains(e.target) || !(state.armed || state.editing || performance.now() - state.lastClick < 1000)) return;
    e.stopPropagation();
    e.preventDefault();
    log('double-click kept from OHIF (no view maximised)');
  }, true);

  function onPointer(ev) {
    if (!state.armed || ui.panel.contains(ev.target)) return;
    const enabled = window.cornerstone.getEnabledElements().find(e => e.viewport.element.contains(ev.target));
    if (!enabled) return;
    ev.stopPropagation();
    ev.preventDefault();
    state.swallowClick = true;
    state.lastClick = performance.now();
    disarm();
    const vp = enabled.viewport;
    if (!ohif.isVolume(vp)) { modeHint(ohif.displaySetOf(vp.id)); return; }
    const canvas = vp.canvas || vp.element.querySelector('canvas');
    const r = canvas.getBoundingClientRect();
    run(Array.from(vp.canvasToWorld([ev.clientX - r.left, ev.clientY - r.top])), vp.id);
  }

  // ---------------------------------------------------------------- candidates of a click
  async function infer(params) {
    const form = new FormData();
    form.append('params', JSON.stringify(params));
    const url = `/infer/ssb?image=${encodeURIComponent(state.series)}&output=json`;
    return answer(await fetch(url, { method: 'POST', body: form, credentials: 'same-origin' }));
  }

  async function run(world, viewportId) {
    const displaySet = ohif.displaySetOf(viewportId), n = candidateCount();
    if (!displaySet) { setStatus('No series in that view.', true); return; }
    if (n === null) return;
    state.series = displaySet.SeriesInstanceUID;
    state.click = world;
    state.busy = true;
    state.pick = -1;
    state.saved = null;
    refresh();
    const t0 = performance.now();
    const timer = setInterval(() => setStatus(`Sampling ${n} candidates… ${((performance.now() - t0) / 1000).toFixed(0)} s`), 500);
    try {
      const res = await infer({ foreground_mm: [world], num_candidates: n, include_masks: true, reader: reader.style() });
      clearInterval(timer);
      state.result = res;
      await draw(res, displaySet);
      centreOthers(world, viewportId);  // the other planes through the click
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      const how = res.cache.hit ? 'the set already sampled for this click' : `sampled in ${res.timings.sample_s.toFixed(1)} s`;
      const finding = res.finding ? ` ${res.finding.message}` : '';  // whether they found a lesion at all
      setStatus(`${res.candidates.length} candidates (${how}; ${s} s in all).${finding} Tick to show, pick one to save.${nearText(res)}`);
      log(`infer done: ${res.candidates.length} candidates, context ${res.cache.context}`);
    } catch (e) {
      clearInterval(timer);
      setStatus('The server could not segment here: ' + e.message, true);
    } finally {
      state.busy = false;
      refresh();
    }
  }

  // the saved lesions at the click (the server's saved_lesions_here, lib/labels/nearby.py): a save over one of the
  // reader's own replaces it
  function nearText(res) {
    const me = reader.name();
    const when = l => (lesions.state.lesions.find(x => x.reader === l.reader && x.lesion === l.lesion) || {}).saved_iso ||
      new Date(l.saved * 1000).toLocaleString();
    return (res.saved_lesions_here || []).map(l => (l.reader === me
      ? ` Near your lesion ${l.lesion} saved at ${when(l)}: saving a candidate over it will replace it.`
      : ` ${l.reader}'s lesion ${l.lesion} is here too.`)).join('');
  }

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

  // ---------------------------------------------------------------- drawing: fill and outline
  function maskLook(strong) {  // a candidate's or saved lesion's style; strong: the hovered or picked candidate
    const fill = strong ? Math.min(1, state.look.fill + 0.2) : state.look.fill;
    const width = strong ? state.look.outline + 2 : state.look.outline;
    return { renderFill: fill > 0, renderFillInactive: fill > 0, fillAlpha: fill, fillAlphaInactive: fill, renderOutline: true,
      renderOutlineInactive: true, outlineWidth: width, outlineWidthInactive: width, outlineOpacity: 1, outlineOpacityInactive: 1,
      activeSegmentOutlineWidthDelta: 0 };
  }

  function lookOf(layer) {
    if (layer.kind === 'variability') {  // a map, always filled, whatever the masks' fill
      return { renderFill: true, renderFillInactive: true, fillAlpha: 0.55, fillAlphaInactive: 0.55, renderOutline: false, renderOutlineInactive: false };
    }
    if (layer.kind === 'consensus') return { ...maskLook(false), renderFill: false, renderFillInactive: false };  // no tint over the candidates
    return maskLook(layer.index === state.pick || layer.index === state.hover);
  }

  function restyle(layer) { if (layer && layer.created) ohif.setStyle(layer.id, lookOf(layer)); }

  function lookChanged(key, value) {
    state.look[key] = value;
    localStorage.setItem('ssb.look', JSON.stringify(state.look));
    lookText();
    layers().forEach(restyle);
    lesions.restyle();
  }

  function lookText() { ui.lookText.textContent = `${Math.round(state.look.fill * 100)} %, ${state.look.outline} px`; }

  const layers = () => (state.rows ? [...state.rows, state.consensus, state.variability] : []);
  const rowOf = index => (state.rows || []).find(r => r.index === index);

  function removeCandidates() {
    state.segmentations.forEach(ohif.remove);
    state.segmentations = [];
  }

  // Only the consensus is made at once; a candidate's or the variability map's labelmap (a full-size volume in the
  // browser: 34 MB for a 512 x 512 x 130 CT) is made the first time it is shown.
  async function draw(res, displaySet) {
    edit.stop();
    removeCandidates();
    const m = res.masks, box = m.box_ijk, size = masks.size(box);
    const all = masks.unpack(m.candidates, size * m.num_candidates);
    state.displaySet = displaySet;
    state.rows = res.candidates.map(c => {  // the server's name and colour (the same in 3D Slicer)
      const mask = { box, values: all.subarray(c.index * size, (c.index + 1) * size) };
      return { kind: 'candidate', id: `${SEG_PREFIX}candidate-${c.index}`, index: c.index, rank: c.rank, name: c.name, colour: c.colour,
        visible: false, created: false, segments: [{ index: 1, label: c.name, colour: c.colour }], mask, voxels: masks.count(mask) };
    }).sort((a, b) => a.rank - b.rank);
    const levels = m.level_segments.map(l => ({ index: l.value, label: l.name, colour: l.colour }));  // the server's scale
    state.consensus = { kind: 'consensus', id: `${SEG_PREFIX}consensus`, name: 'consensus', visible: true, created: false,
      segments: [{ index: 1, label: 'consensus', colour: m.consensus_colour }], mask: { box, values: masks.unpack(m.consensus, size) } };
    state.variability = { kind: 'variability', id: `${SEG_PREFIX}variability`, name: 'variability', visible: false, created: false,
      segments: levels, mask: { box, values: masks.bytes(m.variability) } };
    await ensure(state.consensus);
    applyVisibility();
    buildList(levels);
  }

  async function ensure(layer) {  // the layer's OHIF segmentation, made on first use
    if (layer.created) return;
    layer.created = true;
    await ohif.createLabelmap(state.displaySet, layer.id, layer.name, layer.segments);
    state.segmentations.push(layer.id);
    state.placed[layer.id] = await ohif.paint(layer.id, state.result.masks.geometry, [{ mask: layer.mask, value: null }]);
    restyle(layer);
  }

  function applyVisibility() {
    for (const layer of layers()) if (layer.created) ohif.setVisible(layer.id, layer.segments.map(s => s.index), layer.visible);
  }

  async function show(layer, visible) {
    layer.visible = visible;
    if (layer.checkbox) layer.checkbox.checked = visible;
    try { if (visible) await ensure(layer); applyVisibility(); }
    catch (err) { setStatus(`Cannot show ${layer.name}: ${err.message}`, true); }
  }

  function buildList(levels) {
    ui.list.innerHTML = '';
    const toggle = layer => {
      layer.checkbox = h('input', { type: 'checkbox', checked: layer.visible, onchange: async e => {
        e.target.disabled = true;
        await show(layer, e.target.checked);
        e.target.disabled = false;
      } });
      return layer.checkbox;
    };
    const row = (attrs, ...children) => h('div', { ...attrs, style: { display: 'flex', alignItems: 'center', padding: '1px 0' } }, ...children);
    ui.list.append(row({ 'data-ssb': 'consensus' }, toggle(state.consensus), swatch(state.consensus.segments[0].colour),
      'consensus (half the candidates or more)'));
    const bar = h('span', { style: { display: 'inline-block', width: '70px', height: '10px', margin: '0 4px',
      background: `linear-gradient(to right, ${levels.map(l => `rgb(${l.colour.join(',')})`).join(',')})` } });
    ui.list.append(row({ 'data-ssb': 'variability' }, toggle(state.variability), 'variability ', bar, ' 0 → 1'));
    ui.list.append(h('div', { style: { ...css.muted, margin: '6px 0 2px' } }, 'show · pick · candidate (rank 1 = most typical)'));
    for (const r of state.rows) {
      const pick = h('input', { type: 'radio', name: 'ssb-pick', value: r.index, onchange: () => choose(r) });
      ui.list.append(row({ 'data-ssb': `candidate-${r.index}`, onmouseenter: () => hover(r.index), onmouseleave: () => hover(-1) },
        toggle(r), pick, swatch(r.colour), h('span', {}, r.name + (r.voxels ? '' : ' — empty'))));
    }
  }

  function hover(index) {  // the candidate under the mouse stands out (thicker outline, stronger fill)
    const before = state.hover;
    state.hover = index;
    restyle(rowOf(before));
    restyle(rowOf(index));
  }

  async function choose(r) {  // the pick: shown, standing out, editable, saved by Save
    edit.stop();
    const before = state.pick;
    state.pick = r.index;
    restyle(rowOf(before));
    refresh();
    if (!r.visible) await show(r, true);
    restyle(r);
    r.current = await edit.current(r);  // edits of an earlier pick of it are kept: the Save button says so
    refresh();
  }

  // ---------------------------------------------------------------- saving the pick
  function saveText(name) {
    const r = rowOf(state.pick);
    if (!r) return 'Save (pick a candidate)';
    const now = r.current || { mask: r.mask, edited: false };
    const over = name ? lesions.overlapping(name, now.mask).map(l => l.lesion) : [];
    const target = over.length === 0 ? ' (a new lesion)' : over.length === 1 ? ` (replaces your lesion ${over[0]})`
      : ` (overlaps your lesions ${over.join(', ')}: the server will refuse it)`;
    const empty = masks.count(now.mask) ? '' : ' — empty (0 voxels): the server will refuse it';
    return `Save candidate ${r.index}${now.edited ? ' (edited)' : ''} as ${name || '(type your name)'}${empty || target}`;
  }

  function refresh() {
    const name = reader.name();
    const ok = state.result && state.pick >= 0 && name && !state.busy;
    ui.save.disabled = !ok;
    ui.save.style.opacity = ok ? '1' : '0.5';
    ui.save.textContent = saveText(name);
    edit.bar();
  }

  function sampledParams() {  // the infer parameters of the set on screen: the server finds (or re-samples) that very set
    const p = state.result.params;
    return { foreground_mm: [state.click], num_candidates: p.num_candidates, nfe: p.nfe, seed: p.seed,
      guidance_weight: p.guidance_weight, reader: p.reader };
  }

  async function save() {
    const name = reader.name(), r = rowOf(state.pick);
    if (!state.result || !r || !name) return;
    edit.stop();
    state.busy = true;
    state.saved = null;
    refresh();
    try {
      const now = r.current = await edit.current(r);
      const body = { reader: name, params: sampledParams(), candidate: r.index, ...(now.edited ? { edited: masks.toJson(now.mask) } : {}) };
      state.sent = body;
      const what = `candidate ${r.index}${now.edited ? ` (edited, ${masks.count(now.mask)} voxels)` : ''}`;
      setStatus(`Saving ${what} as ${name}…`);
      const res = await answer(await fetch(`/ssb/lesions?image=${encodeURIComponent(state.series)}`, { method: 'POST',
        credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }));
      state.saved = res;
      const s = res.saved[0];
      setStatus(`Saved ${what} as ${name}'s lesion ${s.lesion} (${s.action}, ${volumeText(s.volume_mm3)})` +
        (res.seg_series ? ': DICOM SEG in the PACS.' : '.'));
      log(`saved ${what} as ${name}, lesion ${s.lesion} ${s.action}; same sampled set: ${res.same_set}`);
      reader.poll();  // the reader is now pending (or still trained)
      await lesions.reload();
      for (const layer of layers()) if (layer.visible) await show(layer, false);  // the saved lesion seen alone; ticks bring them back
    } catch (e) {
      setStatus('Not saved: ' + e.message, true);
    } finally {
      state.busy = false;
      refresh();
    }
  }

  lookText();
  refresh();
})();
