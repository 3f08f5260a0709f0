/*
 * Who reads, in the SSB panel: the reader's name, the reader style the model samples in, and what GET /info/ says of
 * that reader (trained, pending, never seen: lib/readers.py) and of the model (training, promoted, ...:
 * lib/trainers/status.py).
 *
 * The name is typed once (kept in localStorage 'ssb.reader'); with sign-in on (ssb-signin.js) it is the signed-in
 * user's and cannot be changed here, since the server stores a save under the token's user and refuses any other
 * name (docs/signin.md); the panel then says who is signed in, with their role and a Sign out link.
 * window.ssb.reader.create(options) makes the section (after ssb-base.js): options.changed() when the name changes,
 * options.info(info) with every /info/ answer.
 */
(function () {
  'use strict';
  const ssb = window.ssb;
  if (ssb.reader) return;
  const { h, log, css, answer } = ssb;

  function modelText(ts) {  // train_stats of /info/
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

  function readerText(name, status) {  // reader_map.status of /info/: trained, pending, or never seen
    if (!name) return '';
    if (status === 'trained') return `Your style (${name}): trained: the model has learned your outlines.`;
    if (status === 'pending') return `Your style (${name}): pending: your labels are saved; the model learns your style once a training run measures an improvement.`;
    return `Your style (${name}): never seen: save a candidate under your name to start teaching the model your style.`;
  }

  function create(options) {
    const state = { readerStatus: {}, training: null, user: null };
    const ui = {};
    ui.name = h('input', { id: 'ssb-reader', placeholder: 'your name', style: { ...css.input, width: '110px' },
      value: localStorage.getItem('ssb.reader') || '', onchange: nameChanged });
    ui.style = h('select', { id: 'ssb-style', style: { ...css.input, maxWidth: '120px' } }, h('option', { value: 'all' }, 'all'));
    ui.state = h('div', { id: 'ssb-reader-state', style: css.muted });
    ui.signedIn = h('div', { id: 'ssb-signed-in', style: { ...css.muted, display: 'none', marginBottom: '4px' } });
    ui.model = h('div', { id: 'ssb-model', style: { ...css.muted, marginTop: '8px' } });
    const element = h('div', {}, ui.signedIn, h('div', {}, ssb.labelled('Reader', ui.name), ssb.labelled('Style', ui.style)), ui.state);
    const name = () => ui.name.value.trim();
    const showState = () => { ui.state.textContent = readerText(name(), state.readerStatus[name()]); };

    function nameChanged() {
      if (!state.user) localStorage.setItem('ssb.reader', name());
      showState();
      options.changed();
    }

    // the reader styles exactly as /info/ names them ('all', 'none', 'reader0 (trained)', 'alice (pending)'): the
    // datastore's and the model's names, never renamed here
    function styleChoices(config) {
      const choices = Array.isArray(config.reader) ? config.reader : ['all'];
      const now = localStorage.getItem('ssb.style') || ui.style.value;  // the reader's last choice
      if (choices.join('\n') === [...ui.style.options].map(o => o.value).join('\n')) return;
      ui.style.replaceChildren(...choices.map(c => h('option', { value: c }, c)));
      ui.style.value = choices.includes(now) ? now : choices[0];
    }
    ui.style.addEventListener('change', () => localStorage.setItem('ssb.style', ui.style.value));

    async function poll() {
      try {
        const info = await answer(await fetch('/info/', { credentials: 'same-origin' }));
        state.training = info.train_stats && info.train_stats.ssb;
        const ssbInfo = info.ssb && info.ssb.ssb;
        state.readerStatus = (ssbInfo && ssbInfo.reader_map && ssbInfo.reader_map.status) || {};
        styleChoices(((info.models || {}).ssb || {}).config || {});
        ui.model.textContent = modelText(state.training);
        showState();
        options.info(info);
      } catch (e) { log('info: ' + e); }
    }
    setInterval(() => { if (element.isConnected) poll(); }, 15000);

    function signedIn(user) {  // sign-in on: the reader is the signed-in user
      state.user = user;
      ui.name.value = user.username;
      ui.name.disabled = true;
      Object.assign(ui.name.style, { opacity: '0.75', cursor: 'not-allowed' });
      ui.name.title = 'You are signed in: your saves are stored under this name.';
      const signOut = h('a', { href: '#', id: 'ssb-sign-out', style: { color: '#8cf' },
        onclick: e => { e.preventDefault(); window.ssbSignIn.signOut(); } }, 'Sign out');
      ui.signedIn.replaceChildren('Signed in as ', h('b', { style: { color: '#e0e6ff' } }, user.username),
        ` (${user.role === 'admin' ? 'administrator' : 'reader'}) · `, signOut);
      ui.signedIn.style.display = 'block';
      log(`reader: the signed-in user ${user.username}`);
      nameChanged();
    }
    if (window.ssbSignIn) {
      if (window.ssbSignIn.user) setTimeout(() => signedIn(window.ssbSignIn.user));  // once the panel is built
      window.addEventListener('ssb-signin', e => signedIn(e.detail));
    }

    showState();
    return { element, model: ui.model, name, style: () => ui.style.value || 'all', poll, state };
  }

  ssb.reader = { create };
})();
