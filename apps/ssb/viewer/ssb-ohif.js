/*
 * What the SSB panel uses of OHIF 3.10 (inside MONAI Label 0.8.5) and cornerstone3D 2.x, in one place, so that the
 * panel's other files speak of candidates and lesions, not of viewports and labelmaps:
 * - the viewer: whether a study is open, which series it shows, whether its views are volumes (OHIF's MONAI Label
 *   mode: MPR) or stacks of images (the Basic Viewer), where nothing 3D can be drawn;
 * - labelmap segmentations: made for a display set, painted from server masks, read back as a server mask,
 *   coloured, styled (fill, outline), shown, removed;
 * - OHIF's own brush and eraser on one segmentation, and back to the tool the reader had;
 * - the panel docked as a tab of OHIF's right side panel, beside MONAI Label's, so it never covers an image.
 * window.ssb.ohif is this module (after ssb-base.js).
 */
(function () {
  'use strict';
  const ssb = window.ssb;
  if (ssb.ohif) return;
  const { log } = ssb;

  const NO_VOLUME = 'This view shows the series as a stack of images (OHIF\'s Basic Viewer), where candidates cannot be ' +
    'drawn in 3D: open the study in the MONAI Label mode';

  const services = () => window.services;
  const Labelmap = () => window.cornerstoneTools.Enums.SegmentationRepresentations.Labelmap;
  const viewportIds = () => Array.from(services().viewportGridService.getState().viewports.keys());

  // ---------------------------------------------------------------- the viewer
  function studyOpen() {
    const s = services();
    return !!(s && s.segmentationService && s.viewportGridService && s.panelService && window.cornerstone &&
      s.viewportGridService.getState().viewports && s.viewportGridService.getState().viewports.size);
  }

  const isVolume = vp => vp instanceof window.cornerstone.VolumeViewport;
  const volumeViewports = () => window.cornerstone.getEnabledElements().map(e => e.viewport).filter(isVolume);

  function displaySetOf(viewportId) {
    const vp = services().viewportGridService.getState().viewports.get(viewportId);
    const uid = vp && vp.displaySetInstanceUIDs && vp.displaySetInstanceUIDs[0];
    return uid ? services().displaySetService.getDisplaySetByUID(uid) : null;
  }

  function shownDisplaySet() {  // the active viewport's series, else the first viewport's that shows one
    const { activeViewportId } = services().viewportGridService.getState();
    return [activeViewportId, ...viewportIds()].map(id => id && displaySetOf(id)).find(d => d && d.SeriesInstanceUID) || null;
  }

  // the same study in the MONAI Label mode (OHIF's routes: /ohif/<mode>?StudyInstanceUIDs=...)
  const monaiLabelModeUrl = displaySet => location.pathname.replace(/\/[^/]*$/, '/monai-label') +
    `?StudyInstanceUIDs=${encodeURIComponent(displaySet.StudyInstanceUID)}`;

  // ---------------------------------------------------------------- labelmap segmentations
  // the MONAI Label mode shows volumes (MPR); its viewports may still be stacks for a moment while a study loads
  const inMonaiLabelMode = () => /\/monai-label\/?$/.test(location.pathname);

  async function volumeOf(id) {  // OHIF converts a labelmap to a volume asynchronously, once a volume viewport shows it
    const segSvc = services().segmentationService;
    let volume = segSvc.getLabelmapVolume(id);
    for (let t = 0; !volume && t < 100; t++) {
      await new Promise(done => setTimeout(done, 100));
      volume = segSvc.getLabelmapVolume(id);
    }
    if (!volume) throw new Error(volumeViewports().length ? `OHIF made no labelmap volume for ${id}` : NO_VOLUME);
    return volume;
  }

  // segments: [{ index, label, colour: [r, g, b] }]; every segment locked (nothing is painted by accident)
  async function createLabelmap(displaySet, id, label, segments) {
    const segSvc = services().segmentationService;
    const config = {};
    segments.forEach(s => { config[s.index] = { segmentIndex: s.index, label: s.label, active: s.index === segments[0].index, locked: true, color: [...s.colour, 255] }; });
    await segSvc.createLabelmapForDisplaySet(displaySet, { segmentationId: id, label, segments: config });
    for (const viewportId of viewportIds()) await segSvc.addSegmentationRepresentation(viewportId, { segmentationId: id });
    const volume = await volumeOf(id);
    setColours(id, segments);
    return volume;
  }

  // its own colour table: representations otherwise share OHIF's first one, and a colour set for one would recolour all
  function setColours(id, segments) {
    const colour = window.cornerstoneTools.segmentation.config.color;
    const lut = [[0, 0, 0, 0]];
    segments.forEach(s => { lut[s.index] = [...s.colour, 255]; });
    for (let i = 1; i < lut.length; i++) lut[i] = lut[i] || [0, 0, 0, 0];
    const lutIndex = colour.addColorLUT(lut);
    for (const viewportId of viewportIds()) colour.setColorLUT(viewportId, id, lutIndex);
  }

  function modified(id) {
    window.cornerstone.triggerEvent(window.cornerstone.eventTarget,
      window.cornerstoneTools.Enums.Events.SEGMENTATION_DATA_MODIFIED, { segmentationId: id });
  }

  // each of [{ mask, value }] written into the labelmap (value: the mask's own values when null), the rest cleared;
  // the number of voxels placed
  async function paint(id, geometry, items) {
    const volume = await volumeOf(id);
    const data = volume.voxelManager.getCompleteScalarDataArray();
    data.fill(0);
    const place = ssb.grid.toViewer(geometry, volume);
    let placed = 0;
    for (const { mask, value } of items) {
      ssb.masks.forEachVoxel(mask, (i, j, k, v) => {
        const idx = place(i, j, k);
        if (idx >= 0) { data[idx] = value == null ? v : value; placed++; }
      });
    }
    volume.voxelManager.setCompleteScalarDataArray(data);
    modified(id);
    return placed;
  }

  // the labelmap's non-zero voxels as a server mask (the inverse of paint): what the reader sees, edits included
  async function readMask(id, geometry) {
    const volume = await volumeOf(id);
    const data = volume.voxelManager.getCompleteScalarDataArray();
    const toServer = ssb.grid.toServer(geometry, volume);
    const voxels = [];
    for (let idx = 0; idx < data.length; idx++) if (data[idx]) voxels.push(toServer(idx));
    if (!voxels.length) return { box: { i0: 0, j0: 0, k0: 0, ni: 0, nj: 0, nk: 0 }, values: new Uint8Array(0) };
    const lo = [...voxels[0]], hi = [...voxels[0]];
    for (const v of voxels) for (let a = 0; a < 3; a++) { lo[a] = Math.min(lo[a], v[a]); hi[a] = Math.max(hi[a], v[a]); }
    const box = { i0: lo[0], j0: lo[1], k0: lo[2], ni: hi[0] - lo[0] + 1, nj: hi[1] - lo[1] + 1, nk: hi[2] - lo[2] + 1 };
    const values = new Uint8Array(ssb.masks.size(box));
    for (const [i, j, k] of voxels) values[(i - box.i0) + box.ni * ((j - box.j0) + box.nj * (k - box.k0))] = 1;
    return { box, values };
  }

  // style: cornerstone3D's labelmap style (renderFill, fillAlpha, renderOutline, outlineWidth, ... and their
  // *Inactive twins for a segmentation that is not the viewport's active one)
  function setStyle(id, style) {
    for (const viewportId of viewportIds()) {
      window.cornerstoneTools.segmentation.config.style.setStyle({ type: Labelmap(), viewportId, segmentationId: id }, style);
    }
  }

  function setVisible(id, segmentIndices, visible) {
    const segSvc = services().segmentationService;
    for (const viewportId of viewportIds()) for (const s of segmentIndices) segSvc.setSegmentVisibility(viewportId, id, s, visible);
  }

  function remove(id) {
    try { services().segmentationService.remove(id); } catch (e) { log(`remove ${id}: ${e}`); }
  }

  // ---------------------------------------------------------------- OHIF's brush on one segmentation
  const brush = { previous: new Map() };  // tool group id -> its primary tool before the brush

  function toolGroups() {
    const { toolGroupService } = services();
    const groups = new Map();
    for (const vp of volumeViewports()) {
      const group = toolGroupService.getToolGroupForViewport(vp.id);
      if (group) groups.set(group.id, group);
    }
    return [...groups.values()];
  }

  // toolName: 'CircularBrush' or 'CircularEraser' (tools of the MONAI Label mode's tool groups); radius in mm
  function startBrush(id, segmentIndex, toolName, radiusMm) {
    const segSvc = services().segmentationService;
    for (const viewportId of viewportIds()) segSvc.setActiveSegmentation(viewportId, id);
    segSvc.setActiveSegment(id, segmentIndex);
    segSvc.setSegmentLocked(id, segmentIndex, false);
    const groups = toolGroups();
    if (!groups.length || groups.some(g => !g.hasTool(toolName))) throw new Error(`OHIF's tools here have no ${toolName}: ${NO_VOLUME}`);
    for (const group of groups) {
      if (!brush.previous.has(group.id)) brush.previous.set(group.id, group.getActivePrimaryMouseButtonTool());
      window.commandsManager.runCommand('setToolActive', { toolName, toolGroupId: group.id });
    }
    setBrushRadius(radiusMm);
  }

  function setBrushRadius(radiusMm) {
    for (const group of toolGroups()) window.cornerstoneTools.utilities.segmentation.setBrushSizeForToolGroup(group.id, radiusMm);
  }

  function stopBrush(id, segmentIndex) {
    for (const group of toolGroups()) {
      const before = brush.previous.get(group.id);
      if (before) window.commandsManager.runCommand('setToolActive', { toolName: before, toolGroupId: group.id });
    }
    brush.previous.clear();
    try { services().segmentationService.setSegmentLocked(id, segmentIndex, true); } catch (e) { log(`lock ${id}: ${e}`); }
  }

  // ---------------------------------------------------------------- docked in OHIF's right side panel
  const PANEL_ID = '@ssb/viewer.panelModule.ssb';
  const dockState = { tries: 0 };

  // OHIF's own React (18): a side panel tab is a React component of the React that renders the panel. OHIF's
  // webpack runtime hands its module table to a chunk pushed onto its chunk list; React is the module whose
  // source carries React's licence header.
  function ohifReact() {
    let require;
    self.webpackChunk.push([[`ssb-${Date.now()}`], {}, r => { require = r; }]);
    const id = Object.keys(require.m).find(k => String(require.m[k]).includes(' * react.production.min.js'));
    if (!id) throw new Error('React not found in OHIF\'s bundle');
    return require(id);
  }

  function register(element, label) {
    const React = ohifReact();
    const Host = () => React.createElement('div', {
      'data-cy': 'ssb-panel-host', style: { flex: '1 1 auto', minHeight: 0, overflowY: 'auto' },
      ref: node => { if (node && node.firstChild !== element) node.append(element); } });
    window.extensionManager.modulesMap[PANEL_ID] = { id: PANEL_ID, name: 'ssb', iconName: 'tab-segmentation', iconLabel: 'SSB',
      label, component: Host };
  }

  // called every tick while a study is open: the tab added whenever OHIF (re)built its side panels, and made the
  // active tab a few times (OHIF renders the new tab list first), then left to the reader's choice
  function dock(element, label) {
    const { panelService } = services();
    if (!window.extensionManager.modulesMap[PANEL_ID]) register(element, label);
    if (!panelService.getPanels('right').some(p => p.id === PANEL_ID)) {
      panelService.addPanel('right', PANEL_ID);
      dockState.tries = 10;
      log('docked in OHIF\'s right side panel');
    } else if (dockState.tries > 0 && !element.isConnected) {
      dockState.tries--;
      panelService.activatePanel(PANEL_ID, true);
    } else {
      dockState.tries = 0;
    }
  }

  ssb.ohif = { NO_VOLUME, studyOpen, isVolume, volumeViewports, displaySetOf, shownDisplaySet, monaiLabelModeUrl, inMonaiLabelMode,
    createLabelmap, paint, readMask, setStyle, setVisible, remove, startBrush, setBrushRadius, stopBrush, dock };
})();
