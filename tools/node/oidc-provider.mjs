#!/usr/bin/env node
// An independent OpenID provider (npm `oidc-provider`, certified by the OpenID Foundation) on
// loopback, for citygraph's resource-server tests (DESIGN section 11).
//
//   node tools/node/oidc-provider.mjs --port 9000 --audience https://citygraph.test \
//        --client app:secret --scopes "open-data registry:read"
//
// Client-credentials tokens come out as RFC 9068 JWTs (typ at+jwt, RS256, aud = --audience) for the
// scopes asked among --scopes.
//
// With --code-client ID:SECRET and --redirect-uri URL it also signs people in (authorization code,
// PKCE) through oidc-provider's development login form: the login typed there is the account id,
// and a citizen's token (scope `self`) carries it as `resident_id`, as a city's provider would
// after checking who the person is. Each start generates a fresh RSA key, so two instances never share a
// key. Once listening it prints one JSON line on stdout: {"issuer": ..., "kid": ...}. Exit 3 when the
// port is taken (the caller picks another), 2 on a usage error.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      port: { type: 'string' },
      audience: { type: 'string' },
      client: { type: 'string', multiple: true, default: [] },
      scopes: { type: 'string', default: 'open-data' },
      'code-client': { type: 'string' },
      'redirect-uri': { type: 'string' },
    },
    strict: true,
  }));
} catch (error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(2);
}
const port = Number(options.port);
if (!Number.isInteger(port) || port <= 0 || !options.audience) {
  process.stderr.write('usage: oidc-provider.mjs --port PORT --audience URL [--client ID:SECRET]... [--scopes "a b"]\n');
  process.exit(2);
}

const issuer = `http://127.0.0.1:${port}`;
const audience = options.audience;
const scopes = options.scopes.split(/\s+/).filter(Boolean);
const clients = options.client.map((pair) => {
  const at = pair.indexOf(':');
  return {
    client_id: pair.slice(0, at),
    client_secret: pair.slice(at + 1),
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  };
});

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = randomUUID();
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };

const codeClient = options['code-client'];
if (codeClient) {
  const at = codeClient.indexOf(':');
  clients.push({
    client_id: codeClient.slice(0, at),
    client_secret: codeClient.slice(at + 1),
    grant_types: ['authorization_code'],
    redirect_uris: [options['redirect-uri']],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  });
}

const provider = new Provider(issuer, {
  clients,
  // the development login form's login is the account id (a resident id in citygraph's tests)
  findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  extraTokenClaims: (_ctx, token) =>
    token.accountId && String(token.scope || '').split(' ').includes('self')
      ? { resident_id: token.accountId }
      : undefined,
  jwks: { keys: [signingKey] },
  scopes: codeClient ? ['openid', ...scopes] : scopes,
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: Boolean(codeClient) },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (resourceIndicator !== audience) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: scopes.join(' '),
          audience: resourceIndicator,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ issuer, kid })}\n`);
});
server.on('error', (error) => {
  process.stderr.write(`${error.code || ''} ${error.message}\n`);
  process.exit(error.code === 'EADDRINUSE' ? 3 : 1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
