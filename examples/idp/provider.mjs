// A real OpenID provider for trying Steward and for its tests: the certified npm package
// oidc-provider, configured as a company's provider would be for Steward's apps.
//
// - RFC 9068 JWT access tokens (typ at+jwt, jti, client_id, scope) for the resources named
//   in IDP_RESOURCES (RFC 8707 resource indicators: absolute URIs); the first is the default.
// - Authorization code with PKCE (S256 only) for the public clients `steward-web` (redirect
//   URIs in IDP_WEB_REDIRECTS) and `steward-native` (RFC 8252: any loopback port of
//   http://127.0.0.1/callback); no implicit flow.
// - Demo users: customers (me:read me:write) and staff, whose `groups` claim Steward maps to
//   its scopes (STEWARD_SCOPE_CLAIMS). Every demo user's password is `demo-password`.
//
// Environment: IDP_PORT (default 8001), IDP_ISSUER (default http://127.0.0.1:IDP_PORT),
// IDP_RESOURCES (space-separated; default http://127.0.0.1:8000), IDP_WEB_REDIRECTS
// (space-separated; default http://127.0.0.1:8080/). Prints one line `listening <issuer>`.
import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import * as querystring from 'node:querystring';

import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.IDP_PORT ?? 8001);
const issuer = process.env.IDP_ISSUER ?? `http://127.0.0.1:${port}`;
const split = (value) => value.split(/\s+/).filter(Boolean);
const resources = split(process.env.IDP_RESOURCES ?? 'http://127.0.0.1:8000');
const webRedirects = split(process.env.IDP_WEB_REDIRECTS ?? 'http://127.0.0.1:8080/');
const PASSWORD = 'demo-password';
const CUSTOMER_SCOPES = 'me:read me:write';

// Customers have no groups; staff have the groups STEWARD_SCOPE_CLAIMS maps to scopes.
const USERS = {
  alice: { name: 'Alice Customer', email: 'alice@example.com' },
  bao: { name: 'Bao Customer', email: 'bao@example.com' },
  cyrus: { name: 'Cyrus Customer', email: 'cyrus@example.com' },
  dara: { name: 'Dara Customer', email: 'dara@example.com' },
  elham: { name: 'Elham Customer', email: 'elham@example.com' },
  farah: { name: 'Farah Customer', email: 'farah@example.com' },
  sam: { name: 'Sam Support', email: 'sam@staff.example.com', groups: ['support'] },
  pat: { name: 'Pat Privacy', email: 'pat@staff.example.com', groups: ['privacy-office'] },
  robin: { name: 'Robin Marketing', email: 'robin@staff.example.com', groups: ['marketing'] },
};

function signingKey() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'ES256', use: 'sig' };
}

function samePassword(given) {
  const a = Buffer.from(String(given ?? ''));
  const b = Buffer.from(PASSWORD);
  return a.length === b.length && timingSafeEqual(a, b);
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'steward-web',
      application_type: 'web',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: webRedirects,
    },
    {
      client_id: 'steward-native',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
  ],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  jwks: { keys: [signingKey()] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  responseTypes: ['code'],
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email'],
  claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
  clientBasedCORS: (ctx, origin, client) =>
    client.clientAuthMethod === 'none' && client.redirectUris.some((uri) => URL.parse(uri)?.origin === origin),
  async findAccount(ctx, id) {
    const user = Object.hasOwn(USERS, id) ? USERS[id] : undefined;
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: user.name, email: user.email };
      },
    };
  },
  async extraTokenClaims(ctx, token) {
    const user = token.accountId && Object.hasOwn(USERS, token.accountId) ? USERS[token.accountId] : undefined;
    return user?.groups ? { groups: user.groups } : undefined;
  },
  ttl: { AccessToken: 900, AuthorizationCode: 60, IdToken: 900, Interaction: 600, Session: 3600, Grant: 3600 },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resources[0],
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, indicator) {
        if (!resources.includes(indicator)) throw new errors.InvalidTarget();
        return {
          scope: CUSTOMER_SCOPES,
          audience: indicator,
          accessTokenTTL: 900,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
});

// The development login page takes any login: here only a demo user with the right password
// signs in; anything else gets the page again with a 401.
provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && /^\/interaction\/[A-Za-z0-9_-]+$/.test(ctx.path) && ctx.is('application/x-www-form-urlencoded')) {
    const chunks = [];
    let size = 0;
    for await (const chunk of ctx.req) {
      size += chunk.length;
      if (size > 16 * 1024) ctx.throw(413, 'request entity too large');
      chunks.push(chunk);
    }
    const body = querystring.parse(Buffer.concat(chunks).toString());
    if (body.prompt === 'login' && !(Object.hasOwn(USERS, body.login) && samePassword(body.password))) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = '<!DOCTYPE html><title>Sign-in</title><p>Wrong login or password.</p>'
        + `<p><a href="${ctx.path}">Try again</a></p>`;
      return;
    }
    ctx.request.body = body;
  }
  await next();
});

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
