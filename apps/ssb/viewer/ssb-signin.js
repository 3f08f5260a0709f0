/*
 * Sign-in for the OHIF viewer (docs/signin.md, section 4): the browser signs in on the provider's own login page by
 * the OpenID Connect authorisation code flow with PKCE (RFC 7636, S256), and every request of the page to this server
 * carries the access token. Loaded only with sign-in on (lib/viewer_page.py): synchronously at the top of every OHIF
 * page, before OHIF's own scripts; and by signed-in.html, the redirect URI the provider sends the browser back to.
 *
 * Why not OHIF's own `oidc` setting (the OHIF 3.10 MONAI Label ships bundles oidc-client-ts 3.1): it always asks
 * the provider's userinfo endpoint with the access token (loadUserInfo forced on), which a provider refuses for a
 * token issued for another audience, this server's (oidc-provider answers 401 invalid_token, and OHIF's callback page
 * then throws); a renewed token never reaches the header OHIF sends (it keeps the first sign-in's user);
 * MONAI Label's own panel sends no header at all; and an expired sign-in is renewed only by leaving the page.
 *
 * Conventions:
 * - the provider's endpoints, client and scope: GET /auth/ (public; lib/identity/login.py);
 * - tokens live in sessionStorage (this tab: a reload keeps them, closing the tab forgets them), key 'ssb.signin':
 *   { access_token, refresh_token, id_token, expires_at (ms since the epoch), lifetime_s };
 * - "a request to this server": same origin, outside the public program files (/ohif/, /ssb/viewer/) and GET /auth/.
 *   XMLHttpRequest (OHIF's DICOMweb and image loading, MONAI Label's panel) and fetch (the SSB panel) both get
 *   'Authorization: Bearer <access token>' unless the caller set one; a fetch answered 401 is retried once with a
 *   renewed token;
 * - renewal: with a refresh token, the access token is renewed min(30 s, half its lifetime) before it expires, or
 *   when a request finds it expired (requests wait for it);
 * - when it cannot be renewed (no refresh token, or the provider refuses it), a banner asks to sign in again in a
 *   small window (the provider's login page); the page and everything on it stay, and waiting requests go on;
 * - WebCrypto (SHA-256 of the PKCE verifier) exists only on https:// pages or on 127.0.0.1 / localhost: a server
 *   on the network is signed in to through its TLS reverse proxy;
 * - window.ssbSignIn: { user (GET /auth/token/valid: username, role), renewals, state, token(), signOut() }, and the
 *   window event 'ssb-signin' once the user is known.
 */
(function () {
  'use strict';
  if (window.ssbSignIn) return;
  const KEY = 'ssb.signin', PENDING = 'ssb.signin.pending.', RENEW_BEFORE_S = 30;
  const nativeFetch = window.fetch.bind(window);
  const script = new URL(document.currentScript ? document.currentScript.src : '/ssb/viewer/ssb-signin.js', location.href);
  const REDIRECT_URI = new URL('signed-in.html', script).href;
  const api = window.ssbSignIn = { user: null, renewals: 0, state: 'starting', log: [], token, signOut, redirectUri: REDIRECT_URI };
  const log = msg => { api.log.push(msg); console.log('[ssb sign-in] ' + msg); };

  // ---------------------------------------------------------------- the provider and the tokens
  let config = null;
  function provider() {  // GET /auth/, once (again after a failure)
    config = config || nativeFetch('/auth/', { credentials: 'same-origin' }).then(async r => {
      const c = await r.json();
      if (!r.ok || !c.authorization_endpoint || !c.token_endpoint) throw new Error(`the sign-in provider cannot be reached (GET /auth/: HTTP ${r.status})`);
      return c;
    });
    config.catch(() => { config = null; });
    return config;
  }

  const stored = () => { try { return JSON.parse(sessionStorage.getItem(KEY)); } catch (e) { return null; } };
  const fresh = (t, marginS) => !!(t && t.access_token && t.expires_at - 1000 * marginS > Date.now());
  const current = () => { const t = stored(); return fresh(t, 5) ? t.access_token : null; };

  function keep(body, previous) {  // a token endpoint's answer stored; its lifetime from expires_in, else the JWT's exp
    let lifetime = Number(body.expires_in);
    if (!(lifetime > 0)) {
      try { lifetime = JSON.parse(atob(body.access_token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp - Date.now() / 1000; }
      catch (e) { lifetime = 300; }
    }
    const t = { access_token: body.access_token, refresh_token: body.refresh_token || (previous && previous.refresh_token) || null,
      id_token: body.id_token || (previous && previous.id_token) || null, expires_at: Date.now() + 1000 * lifetime, lifetime_s: lifetime };
    sessionStorage.setItem(KEY, JSON.stringify(t));
    return t;
  }

  async function tokenRequest(params) {  // the provider's token endpoint (a public client: no secret)
    const c = await provider();
    const r = await nativeFetch(c.token_endpoint, { method: 'POST', headers: { Accept: 'application/json' },
      body: new URLSearchParams({ client_id: c.client_id, ...params }) });
    const body = await r.json().catch(() => ({}));
    if (!r.ok || !body.access_token) throw new Error(body.error_description || body.error || `HTTP ${r.status}`);
    return body;
  }

  // ---------------------------------------------------------------- PKCE: the login page's URL
  const base64url = bytes => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const random = n => base64url(crypto.getRandomValues(new Uint8Array(n)));

  // mode 'page' (this tab goes to the login page and comes back) or 'popup' (a small window does)
  async function loginRequest(mode) {
    if (!window.crypto || !crypto.subtle) {
      throw new Error('signing in needs the browser\'s WebCrypto, which it offers only on https:// pages (or on 127.0.0.1): ' +
        'open the viewer through the server\'s TLS address');
    }
    const c = await provider(), verifier = random(32), state = `${mode}.${random(16)}`;
    const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
    const scope = [...new Set(['openid', ...String(c.scope || '').split(/\s+/).filter(Boolean)])].join(' ');
    const url = new URL(c.authorization_endpoint);
    Object.entries({ client_id: c.client_id, redirect_uri: REDIRECT_URI, response_type: 'code', scope, state,
      code_challenge: challenge, code_challenge_method: 'S256' }).forEach(([k, v]) => url.searchParams.set(k, v));
    return { url: url.href, state, verifier };
  }

  const exchange = (code, verifier) => tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });

  // ---------------------------------------------------------------- renewal
  let renewing = null, timer = null;

  function token() {  // a valid access token, renewed or signed in again first when needed
    return current() ? Promise.resolve(current()) : renew();
  }

  function renew() {
    renewing = renewing || (async () => {
      const t = stored();
      if (t && t.refresh_token) {
        try {
          const n = keep(await tokenRequest({ grant_type: 'refresh_token', refresh_token: t.refresh_token }), t);
          api.renewals++;
          log(`token renewed (${api.renewals}), valid ${Math.round(n.lifetime_s)} s`);
          schedule();
          return n.access_token;
        } catch (e) { log(`the provider did not renew the token: ${e.message}`); }
      }
      return (await signInAgain()).access_token;
    })().finally(() => { renewing = null; });
    return renewing;
  }

  function schedule() {
    const t = stored();
    clearTimeout(timer);
    if (!t) return;
    const ahead = Math.min(RENEW_BEFORE_S, (t.lifetime_s || 60) / 2);
    timer = setTimeout(() => renew().catch(e => log(`renewal: ${e.message}`)), Math.max(0, t.expires_at - 1000 * ahead - Date.now()));
  }

  // ---------------------------------------------------------------- signing in again in a small window
  let again = null, popupRequest = null;

  function signInAgain() {
    again = again || new Promise(done => banner(done)).finally(() => { again = null; });
    return again;
  }

  function banner(done) {
    api.state = 'expired';
    log('sign-in expired: asking to sign in again');
    const text = document.createElement('span'), button = document.createElement('button');
    const box = document.createElement('div');
    box.id = 'ssb-signin-banner';
    Object.assign(box.style, { position: 'fixed', top: '8px', left: '50%', transform: 'translateX(-50%)', zIndex: 100000,
      background: '#5a3a00', color: '#fff', border: '1px solid #f0a030', borderRadius: '6px', padding: '8px 12px', font: '14px sans-serif' });
    Object.assign(button.style, { marginLeft: '10px', background: '#f0a030', color: '#000', border: 'none', borderRadius: '4px', padding: '4px 10px', cursor: 'pointer' });
    button.id = 'ssb-signin-again';
    button.textContent = 'Sign in again';
    box.append(text, button);
    (document.body || document.documentElement).append(box);
    const prepare = message => {
      text.textContent = message;
      button.disabled = true;
      loginRequest('popup').then(r => { popupRequest = { ...r, done: finish, say: prepare }; button.disabled = false; },
        e => { text.textContent = `Cannot sign in again: ${e.message}`; });
    };
    const finish = t => { box.remove(); api.state = 'signed in'; done(t); };
    button.onclick = () => {  // the window opens from the click itself (browsers block others)
      if (!popupRequest || !window.open(popupRequest.url, 'ssb-signin', 'width=520,height=680')) {
        text.textContent = 'The browser blocked the sign-in window: allow pop-up windows for this site, then press again.';
      }
    };
    prepare('Your sign-in has expired. What is on screen stays; sign in again to go on (your next request waits).');
  }

  // the small window's answer (signed-in.html, below), on a channel of this origin: it arrives even when the provider's
  // pages cut the window off from its opener
  const channel = new BroadcastChannel('ssb-signin');
  channel.onmessage = async ev => {
    const r = popupRequest;
    if (!ev.data || ev.data.type !== 'ssb-signin' || !r) return;
    const params = new URLSearchParams(ev.data.search);
    if (params.get('state') !== r.state) return;
    popupRequest = null;
    if (params.get('error')) { r.say(`Not signed in: ${params.get('error_description') || params.get('error')}. Try again.`); return; }
    try {
      const t = keep(await exchange(params.get('code'), r.verifier));
      log('signed in again');
      schedule();
      r.done(t);
      whoAmI();
    } catch (e) { r.say(`Not signed in: ${e.message}. Try again.`); }
  };

  // ---------------------------------------------------------------- who is signed in; signing out
  async function whoAmI() {
    try {
      const r = await window.fetch('/auth/token/valid', { credentials: 'same-origin' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      api.user = await r.json();
      api.state = 'signed in';
      log(`signed in as ${api.user.username} (${api.user.role})`);
      window.dispatchEvent(new CustomEvent('ssb-signin', { detail: api.user }));
    } catch (e) { log(`who am I: ${e.message}`); }
  }

  async function signOut() {  // forget the tokens here, and end the session at the provider when it offers that
    const t = stored();
    sessionStorage.removeItem(KEY);
    const c = await provider().catch(() => null);
    if (!c || !c.end_session_endpoint) { location.reload(); return; }
    const url = new URL(c.end_session_endpoint);
    url.searchParams.set('client_id', c.client_id);
    if (t && t.id_token) url.searchParams.set('id_token_hint', t.id_token);
    location.assign(url.href);
  }

  // ---------------------------------------------------------------- every request to this server carries the token
  const PUBLIC = /^\/(ohif|ssb\/viewer)(\/|$)|^\/auth\/?$/;
  const ours = url => { try { const u = new URL(url, location.href); return u.origin === location.origin && !PUBLIC.test(u.pathname); } catch (e) { return false; } };

  function hookRequests() {
    const proto = XMLHttpRequest.prototype, open = proto.open, send = proto.send, setHeader = proto.setRequestHeader;
    const pending = new WeakMap();  // request -> { ours, authorised }
    proto.open = function (method, url, ...rest) { pending.set(this, { ours: ours(url), authorised: false }); return open.call(this, method, url, ...rest); };
    proto.setRequestHeader = function (name, value) {
      if (String(name).toLowerCase() === 'authorization' && pending.has(this)) pending.get(this).authorised = true;
      return setHeader.call(this, name, value);
    };
    proto.send = function (body) {
      const p = pending.get(this);
      if (!p || !p.ours || p.authorised) return send.call(this, body);
      const now = current();
      if (now) { setHeader.call(this, 'Authorization', `Bearer ${now}`); return send.call(this, body); }
      token().then(t => { try { setHeader.call(this, 'Authorization', `Bearer ${t}`); send.call(this, body); } catch (e) { log(`request dropped: ${e}`); } });
      return undefined;
    };
    window.fetch = async function (input, init) {
      const request = new Request(input, init);
      if (!ours(request.url) || request.headers.has('Authorization')) return nativeFetch(request);
      for (let attempt = 0; ; attempt++) {
        const t = await token(), copy = request.clone();
        copy.headers.set('Authorization', `Bearer ${t}`);
        const response = await nativeFetch(copy);
        if (response.status !== 401 || attempt > 0) return response;
        log(`${request.method} ${new URL(request.url).pathname}: 401, renewing the token and trying again`);
        const s = stored();
        if (s && s.access_token === t) sessionStorage.setItem(KEY, JSON.stringify({ ...s, expires_at: 0 }));  // refused: renew it
      }
    };
  }

  // ---------------------------------------------------------------- the two pages
  function say(text) {  // signed-in.html's message
    const show = () => { document.getElementById('ssb-signin-message').textContent = text; };
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', show); else show();
  }

  function signedInPage() {  // the provider sent the browser back here with ?code&state (or ?error)
    const params = new URLSearchParams(location.search), state = params.get('state') || '';
    if (state.startsWith('popup.')) {  // the small window: the page that opened it exchanges the code
      channel.postMessage({ type: 'ssb-signin', search: location.search });
      say('Signed in: this window closes itself.');
      setTimeout(() => window.close(), 300);
      return;
    }
    const pending = JSON.parse(sessionStorage.getItem(PENDING + state) || 'null');
    sessionStorage.removeItem(PENDING + state);
    if (!pending) { say('This sign-in was not started in this tab, or was used already: open the viewer again.'); return; }
    if (params.get('error')) { say(`Not signed in: ${params.get('error_description') || params.get('error')}`); return; }
    exchange(params.get('code'), pending.verifier).then(body => { keep(body); location.replace(pending.returnTo); },
      e => say(`Not signed in: the provider did not give a token (${e.message}).`));
  }

  function viewerPage() {  // an OHIF page: signed in (or renewable), or to the login page before OHIF starts
    hookRequests();
    const t = stored();
    if (fresh(t, 5) || (t && t.refresh_token)) {
      api.state = 'signed in';
      schedule();
      whoAmI();
      return;
    }
    window.stop();  // OHIF would only meet 401s
    api.state = 'signing in';
    loginRequest('page').then(r => {
      sessionStorage.setItem(PENDING + r.state, JSON.stringify({ verifier: r.verifier, returnTo: location.href }));
      location.assign(r.url);
    }, e => {
      const box = document.createElement('p');
      box.textContent = `Cannot sign in: ${e.message}`;
      Object.assign(box.style, { color: '#f88', font: '16px sans-serif', padding: '20px' });
      document.documentElement.append(box);
    });
  }

  if (/\/signed-in\.html$/.test(location.pathname)) signedInPage(); else viewerPage();
})();
