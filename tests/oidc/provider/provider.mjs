// A real OpenID Connect provider (oidc-provider, OpenID Certified) for Conduit's login tests.
//
// Configured by one JSON argument (or the OIDC_TEST_CONFIG variable):
//   {"port": 4000,
//    "client": {"client_id": "conduit", "client_secret": "...", "redirect_uris": ["..."]},
//    "accounts": {"alice": {"email": "alice@example.test", "email_verified": true,
//                           "name": "Alice Liddell", "preferred_username": "alice"}},
//    "claims_in_id_token": true,
//    "iss_parameter": true}        (false: no RFC 9207 iss, neither advertised nor sent)
//
// Besides the provider's own endpoints it serves, for the tests only:
//   GET  /interaction/<uid>?account=<id>   logs in that account (or the login_hint of the
//                                          authorization request) and grants every requested
//                                          scope and claim: the browser's part, over HTTP.
//   POST /test/tamper?mode=<mode>          alters the id_token of the NEXT token response:
//                                          payload (a claim changed, signature kept),
//                                          signature (signature bytes changed), none (alg none,
//                                          no signature). A man in the middle, in effect.
import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2] || process.env.OIDC_TEST_CONFIG || '{}');
const port = Number(config.port || 4000);
const issuer = `http://127.0.0.1:${port}`;
const accounts = config.accounts || {};
const client = config.client;
if (!client || !client.client_id) {
  console.error('provider.mjs: a client is required in the configuration');
  process.exit(2);
}

const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const jwk = { ...signingKey.export({ format: 'jwk' }), kid: 'test-key-1', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: client.token_endpoint_auth_method || 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  // claims_in_id_token (default true): the email and profile claims are in the id_token
  // itself; false: only at userinfo, as OIDC Core 5.4 has it when an access token is issued.
  conformIdTokenClaims: config.claims_in_id_token === false,
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
});

// The next token response's id_token is altered this way (then the mode resets).
let tamper = null;

function alter(idToken, mode) {
  const [header, payload, signature] = idToken.split('.');
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());
  if (mode === 'payload') {
    const claims = decode(payload);
    claims.email = 'mallory@example.test';
    claims.sub = 'mallory';
    return [header, encode(claims), signature].join('.');
  }
  if (mode === 'signature') {
    const bytes = Buffer.from(signature, 'base64url');
    bytes[0] ^= 0xff;
    return [header, payload, bytes.toString('base64url')].join('.');
  }
  if (mode === 'none') {
    return [encode({ alg: 'none', typ: 'JWT' }), payload, ''].join('.');
  }
  throw new Error(`unknown tamper mode ${mode}`);
}

provider.use(async (ctx, next) => {
  await next();
  if (config.iss_parameter === false) {
    // A provider without RFC 9207: no advertisement, no iss in its answers.
    if (ctx.path === '/.well-known/openid-configuration' && ctx.body) {
      const { authorization_response_iss_parameter_supported: _, ...metadata } = ctx.body;
      ctx.body = metadata;
    }
    const location = ctx.response.get('location');
    if (location && location.includes('iss=')) {
      const url = new URL(location);
      url.searchParams.delete('iss');
      ctx.response.set('location', url.href);
    }
  }
  if (ctx.path === '/token' && tamper && ctx.body && typeof ctx.body.id_token === 'string') {
    ctx.body = { ...ctx.body, id_token: alter(ctx.body.id_token, tamper) };
    tamper = null;
  }
});

async function finishInteraction(req, res, url) {
  const details = await provider.interactionDetails(req, res);
  const accountId = url.searchParams.get('account') || details.params.login_hint;
  if (!accountId || !accounts[accountId]) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`unknown account ${accountId}`);
    return;
  }
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(String(details.params.scope || 'openid'));
  grant.addOIDCClaims(['email', 'email_verified', 'name', 'preferred_username']);
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

const handle = provider.callback();
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (req.method === 'GET' && url.pathname.startsWith('/interaction/')) {
      await finishInteraction(req, res, url);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/test/tamper') {
      tamper = url.searchParams.get('mode');
      res.writeHead(204);
      res.end();
      return;
    }
  } catch (error) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(error));
    return;
  }
  handle(req, res);
});

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening at ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
