/*
 * The lesions already saved on the open series, in the SSB panel: listed (reader, lesion id, when, from what, size)
 * and drawn, from GET /ssb/lesions?masks=true (apps/ssb/lib/labels/routes.py).
 *
 * Drawn as one OHIF labelmap per reader, lesion id = segment index (a reader's lesions never overlap; two
 * readers' may): the current reader's lesions in magenta, other readers' in mint (colours no candidate has, and
 * that bright CT tissue does not hide), both with the panel's fill and outline; only listed where OHIF shows
 * stacks of images (the Basic Viewer). They stay on screen across clicks (a new click replaces only the
 * candidates); a save, a removal or another series reloads them. Each of the current reader's lesions has a
 * Remove button: removing is its own, explicit action (DELETE /ssb/lesions, after a confirm), never the side
 * effect of a save.
 * window.ssb.lesions.create(options) makes the section (after ssb-base.js and ssb-ohif.js).
 */
(function () {
  'use strict';
  const ssb = window.ssb;
  if (ssb.lesions) return;
  const { h, log, masks, ohif, css, swatch, volumeText, answer } = ssb;

  const PREFIX = 'ssb-saved-';
  const MINE = [255, 0, 255], OTHERS = [120, 255, 200];

  /*
   * options: reader() the current reader's name; status(text, isError) the panel's status line; look() the
   * cornerstone3D labelmap style of masks (the panel's fill and outline).
   */
  function create(options) {
    const state = { series: null, displaySet: null, drawable: false, geometry: null, lesions: [], unreadable: [], shown: true, drawn: [],
      placed: {}, queue: Promise.resolve() };
    const ui = {};
    ui.toggle = h('input', { type: 'checkbox', id: 'ssb-saved-toggle', checked: true,
      onchange: e => { state.shown = e.target.checked; showOrHide(); } });
    ui.list = h('div', { id: 'ssb-saved-list' });
    ui.section = h('div', { id: 'ssb-saved' },
      h('div', { style: css.heading }, h('label', {}, ui.toggle, ' Saved lesions on this series')), ui.list);

    const url = query => `/ssb/lesions?image=${encodeURIComponent(state.series)}&${query}`;

    // ------------------------------------------------------------ loading and drawing (one at a time, in order)
    // drawable: whether OHIF shows the series as volumes (the MONAI Label mode), where labelmaps can be drawn
    function open(series, displaySet, drawable) {
      state.series = series;
      state.displaySet = displaySet;
      state.drawable = drawable;
      return reload();
    }

    function enqueue(step) {
      state.queue = state.queue.then(step).catch(e => options.status(`Saved lesions not shown: ${e.message}`, true));
      return state.queue;
    }

    const reload = () => enqueue(load);
    const redraw = () => enqueue(async () => { await draw(); list(); });  // the reader changed: other colours, other Remove buttons

    async function load() {
      const series = state.series;
      const body = await answer(await fetch(url('masks=true'), { credentials: 'same-origin' }));
      if (series !== state.series) return;  // another series opened meanwhile
      state.geometry = body.geometry;
      state.unreadable = body.unreadable || [];
      state.lesions = body.lesions.map(l => ({ ...l, mask: masks.fromJson(l.mask) }));
      await draw();
      list();
      log(`saved lesions on ${series}: ${state.lesions.map(l => `${l.reader}/${l.lesion}`).join(', ') || 'none'}`);
    }

    function byReader() {
      const groups = new Map();
      for (const l of state.lesions) groups.set(l.reader, [...(groups.get(l.reader) || []), l]);
      return groups;
    }

    async function draw() {
      state.drawn.forEach(ohif.remove);
      state.drawn = [];
      if (!state.drawable) return;
      for (const [reader, lesions] of byReader()) {
        const id = PREFIX + reader, colour = reader === options.reader() ? MINE : OTHERS;
        const segments = lesions.map(l => ({ index: l.lesion, label: `${reader} lesion ${l.lesion}`, colour }));
        await ohif.createLabelmap(state.displaySet, id, `saved by ${reader}`, segments);
        state.drawn.push(id);
        state.placed[id] = await ohif.paint(id, state.geometry, lesions.map(l => ({ mask: l.mask, value: l.lesion })));
        ohif.setStyle(id, options.look());
      }
      showOrHide();
    }

    function showOrHide() {
      for (const [reader, lesions] of byReader()) {
        if (state.drawn.includes(PREFIX + reader)) ohif.setVisible(PREFIX + reader, lesions.map(l => l.lesion), state.shown);
      }
    }

    function restyle() { state.drawn.forEach(id => ohif.setStyle(id, options.look())); }

    // ------------------------------------------------------------ the list
    function list() {
      ui.list.innerHTML = '';
      const reader = options.reader();
      const sorted = [...state.lesions].sort((a, b) => (b.reader === reader) - (a.reader === reader) ||
        a.reader.localeCompare(b.reader) || a.lesion - b.lesion);
      if (!sorted.length) ui.list.append(h('div', { style: css.muted }, 'None yet.'));
      for (const l of sorted) {
        const mine = l.reader === reader;
        const remove = mine && h('button', { style: { ...css.button, background: '#8a2b2b', padding: '1px 6px', margin: '0 0 0 auto' },
          'data-ssb-remove': l.lesion, onclick: () => removeLesion(l) }, 'Remove');
        ui.list.append(h('div', { 'data-ssb-lesion': `${l.reader}/${l.lesion}`, style: { margin: '3px 0' } },
          h('div', { style: { display: 'flex', alignItems: 'center' } }, swatch(mine ? MINE : OTHERS),
            h('span', {}, `${l.reader} · lesion ${l.lesion} · ${volumeText(l.volume_mm3)}`), remove || ''),
          h('div', { style: { ...css.muted, marginLeft: '18px' } }, `${l.saved_iso || 'time unknown'} · ${l.source}`)));
      }
      for (const u of state.unreadable) {
        ui.list.append(h('div', { style: { color: '#ff8080', fontSize: '12px' } }, `${u.reader}: label unreadable (${u.error})`));
      }
    }

    async function removeLesion(l) {
      const what = `your lesion ${l.lesion} (saved ${l.saved_iso}, ${l.source}, ${volumeText(l.volume_mm3)})`;
      if (!window.confirm(`Remove ${what} from this series? Your other lesions stay.`)) return;
      try {
        const query = `reader=${encodeURIComponent(l.reader)}&lesion=${l.lesion}`;
        await answer(await fetch(url(query), { method: 'DELETE', credentials: 'same-origin' }));
        options.status(`Removed ${what}.`);
        log(`removed ${l.reader}/${l.lesion} on ${state.series}`);
      } catch (e) {
        options.status(`Not removed: ${e.message}`, true);
      }
      await reload();
    }

    // the reader's lesions a mask overlaps: the one its save replaces (several: the server refuses it)
    const overlapping = (reader, mask) => state.lesions.filter(l => l.reader === reader && masks.overlap(l.mask, mask) > 0);

    return { element: ui.section, state, open, reload, redraw, restyle, overlapping };
  }

  ssb.lesions = { create };
})();
