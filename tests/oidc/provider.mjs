// The OpenID Connect provider of the sign-in tests: the npm package oidc-provider (a certified OpenID Connect
// implementation), configured here, listening on 127.0.0.1 only. tests/app/_oidc.py starts it:
//
//   node provider.mjs CONFIG.json
//
// CONFIG.json: {"port", "audience", "client_id", "short_client_id", "redirect_uri", "users": {name: {password, roles}}},
// optionally "viewer_redirect_uris" (more redirect URIs of both clients: the OHIF viewer's signed-in page of a server)
// and "token_ttl" (seconds an access token of client_id lasts, default 600).
// It prints one line "listening <issuer>" when ready, and stops on SIGTERM.
//
// - Users sign in on the provider's own login page (its development interactions, enabled here: the page takes a
//   user name; this config knows the users of CONFIG.json only), by the authorisation code flow with PKCE.
// - The password grant (what 3D Slicer's MONAI Label plugin uses, through the server's POST /auth/token): the
//   provider leaves it out (OAuth 2.1 drops it; Keycloak offers it as a client's "Direct access grants"); it is
//   added through the provider's documented extension point registerGrantType, checking CONFIG.json's passwords
//   and issuing the provider's own access token.
// - Access tokens are JWTs for the resource CONFIG.audience (resource indicators), signed RS256 with a key made at
//   start-up (published in the JWKS), carrying preferred_username and the user's roles in the claim "roles".
//   Tokens of short_client_id last 1 s (the tests' expired token); the others token_ttl (10 minutes).
// - Refresh tokens, as Keycloak gives them with its standard flow: every sign-in at the login page of a client allowed
//   the refresh_token grant gets one (oidc-provider's default asks for offline_access and a consent page); used
//   once each (rotated, the provider's default for public clients). The OHIF viewer renews its token with them.
// - The public clients' redirect URIs are also their CORS origins (oidc-provider's default for public clients): the
//   viewer's page calls the token endpoint from the server's origin.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const RESOURCE_SCOPE = 'ssb';

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };

function resourceServerInfo(client) {
  return {
    scope: RESOURCE_SCOPE,
    audience: config.audience,
    accessTokenTTL: client.clientId === config.short_client_id ? 1 : (config.token_ttl || 600),
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

function samePassword(given, expected) {
  const a = Buffer.from(String(given ?? ''));
  const b = Buffer.from(String(expected));
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

const publicClient = (clientId) => ({
  client_id: clientId,
  token_endpoint_auth_method: 'none',
  redirect_uris: [config.redirect_uri, ...(config.viewer_redirect_uris || [])],
  grant_types: ['authorization_code', 'refresh_token', 'password'],
  response_types: ['code'],
});

const provider = new Provider(issuer, {
  clients: [publicClient(config.client_id), publicClient(config.short_client_id)],
  jwks: { keys: [signingKey] },
  findAccount: async (ctx, id) => (config.users[id]
    ? { accountId: id, claims: async () => ({ sub: id, preferred_username: id }) }
    : undefined),
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => config.audience,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, indicator, client) => {
        if (indicator !== config.audience) throw new errors.InvalidTarget();
        return resourceServerInfo(client);
      },
    },
  },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  extraTokenClaims: async (ctx, token) => {
    const user = config.users[token.accountId];
    return user ? { preferred_username: token.accountId, roles: user.roles } : undefined;
  },
  // first-party clients: no consent page (the users of CONFIG.json have agreed)
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid');
    grant.addResourceScope(config.audience, RESOURCE_SCOPE);
    await grant.save();
    return grant;
  },
});

provider.registerGrantType('password', async (ctx) => {
  const { username, password } = ctx.oidc.params;
  const user = config.users[username];
  if (!user || !samePassword(password, user.password)) {
    throw new errors.InvalidGrant('invalid user name or password');
  }
  const { client } = ctx.oidc;
  const info = resourceServerInfo(client);
  const grant = new provider.Grant({ clientId: client.clientId, accountId: username });
  grant.addOIDCScope('openid');
  grant.addResourceScope(config.audience, info.scope);
  const grantId = await grant.save();
  const token = new provider.AccessToken({ accountId: username, client, grantId, gty: 'password', scope: info.scope });
  token.resourceServer = new provider.ResourceServer(config.audience, info);
  ctx.oidc.entity('AccessToken', token);
  ctx.body = {
    access_token: await token.save(), token_type: 'Bearer', expires_in: token.expiration, scope: token.scope,
  };
}, ['username', 'password', 'scope']);

const server = http.createServer(provider.callback());
server.listen(config.port, '127.0.0.1', () => console.log(`listening ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
