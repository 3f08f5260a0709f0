/*
 * Touching up the picked candidate with OHIF's own brush and eraser, in the SSB panel: the tool bar (Brush, Eraser,
 * Stop editing, Undo edits, the radius), and the pick as the reader now sees it, read back from its labelmap onto the
 * server's voxel grid, with whether it differs from the candidate as sampled (then Save sends the edited mask).
 *
 * A candidate row (ssb-panel.js) is { id (its OHIF segmentation), index, mask (as sampled), voxels, visible, created,
 * current ({ mask, edited } once measured, null when it must be measured again) }.
 * window.ssb.edit.create(panel) makes the section (after ssb-base.js and ssb-ohif.js); panel: { state (the panel's:
 * pick, editing, radius, result), rowOf(index), show(row, visible), status(text, isError), refresh() }.
 */
(function () {
  'use strict';
  const ssb = window.ssb;
  if (ssb.edit) return;
  const { h, masks, ohif, css } = ssb;

  function create(panel) {
    const { state } = panel;
    const element = h('div', { id: 'ssb-edit', style: { display: 'none' } });

    function editBar() {
      const r = panel.rowOf(state.pick), editing = state.editing;
      element.style.display = r && r.created ? 'block' : 'none';
      if (!r) return;
      const tool = (name, label) => h('button', { 'data-ssb-tool': name, style: { ...css.button, background: editing && editing.tool === name ? '#f0a030' : '#4a5080' },
        onclick: () => startEditing(name) }, label);
      const radius = h('input', { id: 'ssb-radius', type: 'range', min: 1, max: 10, step: 0.5, value: state.radius, style: { ...css.range, width: '80px' },
        oninput: e => { state.radius = parseFloat(e.target.value); if (state.editing) ohif.setBrushRadius(state.radius); radiusText.textContent = `${state.radius} mm`; } });
      const radiusText = h('span', {}, `${state.radius} mm`);
      element.replaceChildren(h('div', { style: css.muted }, `Touch up candidate ${r.index} with OHIF's brush:`),
        h('div', {}, tool('CircularBrush', 'Brush'), tool('CircularEraser', 'Eraser'),
          editing && h('button', { id: 'ssb-stop-edit', style: { ...css.button, background: '#4a5080' }, onclick: finishEditing }, 'Stop editing') || '',
          h('button', { id: 'ssb-reset-edit', style: { ...css.button, background: '#4a5080' }, onclick: resetEdits }, 'Undo edits')),
        h('div', { style: css.muted }, 'radius ', radius, ' ', radiusText));
    }

    async function startEditing(toolName) {
      const r = panel.rowOf(state.pick);
      if (!r) return;
      try {
        if (!r.visible) await panel.show(r, true);
        ohif.startBrush(r.id, 1, toolName, state.radius);
        state.editing = { id: r.id, index: r.index, tool: toolName };
        panel.status(`${toolName === 'CircularEraser' ? 'Erasing from' : 'Painting'} candidate ${r.index} in any view; ` +
          'Stop editing (or Save) when done.');
      } catch (e) { panel.status(`Cannot edit: ${e.message}`, true); }
      editBar();
    }

    function stopEditing() {  // the brush put away; the candidate edited (its row), or null
      if (!state.editing) return null;
      const r = panel.rowOf(state.editing.index);
      ohif.stopBrush(state.editing.id, 1);
      state.editing = null;
      if (r) r.current = null;  // to be measured again
      editBar();
      return r;
    }

    async function finishEditing() {  // Stop editing: what the edit did, said and shown on the Save button
      const r = stopEditing();
      if (!r) return;
      r.current = await current(r);
      const n = masks.count(r.current.mask);
      panel.status(r.current.edited ? `Candidate ${r.index} edited: ${n} voxels (sampled: ${r.voxels}); Save sends your edit, Undo edits ` +
        'brings back the candidate.' : `Candidate ${r.index} unchanged.`);
      panel.refresh();
    }

    async function resetEdits() {  // the candidate as the server sampled it
      const r = panel.rowOf(state.pick);
      if (!r || !r.created) return;
      await ohif.paint(r.id, state.result.masks.geometry, [{ mask: r.mask, value: 1 }]);
      r.current = null;
      panel.status(`Candidate ${r.index} is as sampled again.`);
      panel.refresh();
    }

    async function current(r) {  // what the reader sees of the pick: its labelmap on the server's grid, and whether it was edited
      if (!r.created) return { mask: r.mask, edited: false };
      const mask = await ohif.readMask(r.id, state.result.masks.geometry);
      return { mask, edited: !masks.same(mask, r.mask) };
    }

    return { element, bar: editBar, stop: stopEditing, current };
  }

  ssb.edit = { create };
})();
