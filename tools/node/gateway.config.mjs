// Hive Gateway in front of citygraph's subgraphs (the distributed deployment, README "One process
// or federated"). Start it so that its process id is the server's:
//
//   node node_modules/@graphql-hive/gateway/dist/bin.js supergraph ../../supergraph.graphql \
//     -c gateway.config.mjs --host 127.0.0.1 --port 4000
//
// Environment:
//   CITYGRAPH_JWKS_URL      JWKS of the token issuer (citygraph's own: <base>/.well-known/jwks.json)
//   CITYGRAPH_ISSUER        expected `iss` of access tokens (citygraph's base URL, or the city's IdP)
//   CITYGRAPH_AUDIENCE      expected `aud` (default: CITYGRAPH_ISSUER)
//   CITYGRAPH_ROUTER_SECRET sent to every subgraph in `Citygraph-Router` (subgraphs that have it
//                           answer introspection and `_service` to the router only)
//
// What it does, in order: validates the bearer token as citygraph does (RFC 9068: signature through
// the JWKS, issuer, audience, expiry, `typ: at+jwt`), enforces `@authenticated`/`@requiresScopes`
// from the supergraph with the same error codes as citygraph (UNAUTHENTICATED without a token,
// FORBIDDEN without the scope), and forwards the token, the purpose header and the request id to
// the subgraphs, which authenticate the caller again and enforce access themselves (row rules,
// purposes): the router is never the only guard.
import { defineConfig } from '@graphql-hive/gateway';
import { createRemoteJwksSigningKeyProvider } from '@graphql-mesh/plugin-jwt-auth';
import { GraphQLError } from 'graphql';

const issuer = process.env.CITYGRAPH_ISSUER;
const jwksUri = process.env.CITYGRAPH_JWKS_URL ?? (issuer ? `${issuer}/.well-known/jwks.json` : undefined);
if (!issuer || !jwksUri) {
  throw new Error('set CITYGRAPH_ISSUER (and CITYGRAPH_JWKS_URL unless it is <issuer>/.well-known/jwks.json)');
}
const audience = process.env.CITYGRAPH_AUDIENCE ?? issuer;
const routerSecret = process.env.CITYGRAPH_ROUTER_SECRET;
const FORWARDED = ['authorization', 'citygraph-purpose', 'x-request-id'];

const CHALLENGE = 'Bearer error="invalid_token"';

function unauthorized(message) {
  return new GraphQLError(message, {
    extensions: { code: 'UNAUTHENTICATED', http: { status: 401, headers: { 'WWW-Authenticate': CHALLENGE } } },
  });
}

// The bearer token, refused unless its header says it is an access token (RFC 9068 section 2.1):
// jsonwebtoken checks signature, issuer, audience and expiry, not `typ`.
function bearerAccessToken({ request }) {
  const header = request.headers.get('authorization');
  if (!header) return undefined;
  const [prefix, token] = header.split(' ');
  if (prefix?.toLowerCase() !== 'bearer' || !token) throw unauthorized('the Authorization header must be "Bearer <token>"');
  let typ;
  try {
    typ = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')).typ;
  } catch {
    throw unauthorized('the token is not a JWT');
  }
  if (typeof typ !== 'string' || typ.toLowerCase().replace(/^application\//, '') !== 'at+jwt') {
    throw unauthorized('the token is not an access token (typ must be at+jwt)');
  }
  return { prefix: 'Bearer', token };
}

// The same codes as citygraph's own denials (auth.policy): anonymous callers are told to
// authenticate, authenticated ones that they lack the scope. The subgraph decides the rest.
function validateUser({ user, fieldNode, path, typeScopes, fieldScopes, typeAuthArgs, fieldAuthArgs, userScopes, executionArgs }) {
  const restricted = typeAuthArgs || fieldAuthArgs || typeScopes || fieldScopes;
  if (!restricted) return undefined;
  const deny = (message, code) => {
    executionArgs.contextValue[DENIED] = true;
    const error = new GraphQLError(message, { nodes: [fieldNode], path, extensions: { code } });
    denials.add(error);
    return error;
  };
  if (user == null) return deny('this field requires a token', 'UNAUTHENTICATED');
  for (const required of [typeScopes, fieldScopes]) {
    if (required && !required.some((all) => all.every((scope) => userScopes.includes(scope)))) {
      return deny('this field requires a scope the token does not carry', 'FORBIDDEN');
    }
  }
  return undefined;
}

// Work around @envelop/extended-validation (5.x, rejectOnErrors: false): after execution it
// writes null at each denied field's path, creating `{}` (even in place of a list) where a parent
// on that path was null, so `residents: null` came back as `residents: {nodes: {...}}`. We keep
// a copy of the executed data of requests with a denial and, when the response is produced,
// restore every null of that copy; the nulls of denied fields, absent from the copy, stay.
// A denied field that execution never reached (its parent is null: the subgraph denied it, or
// there was no row) is not reported either, as citygraph would not report it.
const DENIED = Symbol('citygraph denied a field');
const executed = new WeakMap();
const denials = new WeakSet();

function reached(data, path) {
  if (Array.isArray(data)) return data.some((item) => reached(item, path));
  if (data == null || typeof data !== 'object') return false;
  if (path.length <= 1) return true;
  return reached(data[path[0]], path.slice(1));
}

function restoreNulls(now, before) {
  if (before === null) return null;
  if (Array.isArray(before)) return before.map((item, i) => restoreNulls(Array.isArray(now) ? now[i] : undefined, item));
  if (typeof before !== 'object' || now === null || typeof now !== 'object') return before;
  const out = { ...now };
  for (const key of Object.keys(before)) out[key] = restoreNulls(now[key], before[key]);
  return out;
}

// The router plans root fields of one subgraph under an `@` step: the denial of the second such
// field has the path ['@', field], and extended-validation's null then lands at data['@'][field].
// citygraph answers { field: null }: lift what sits under `@` to where it belongs, paths as well.
function liftAt(value) {
  if (Array.isArray(value)) return value.map(liftAt);
  if (value == null || typeof value !== 'object') return value;
  const out = {};
  for (const [key, item] of Object.entries(value)) if (key !== '@') out[key] = liftAt(item);
  if ('@' in value && value['@'] != null && typeof value['@'] === 'object') {
    for (const [key, item] of Object.entries(liftAt(value['@']))) if (!(key in out)) out[key] = item;
  }
  return out;
}

function withoutAtInPath(error) {
  if (!error.path?.includes('@')) return error;
  return new GraphQLError(error.message, {
    path: error.path.filter((key) => key !== '@'),
    extensions: error.extensions,
    originalError: error.originalError,
  });
}

// The JWT plugin refuses a token whose signature, issuer, audience or expiry is wrong with a bare
// "Unauthenticated" 401: give it citygraph's code and challenge.
const isBareUnauthenticated = (error) => error.extensions?.http?.status === 401 && !error.extensions?.code;
function withAuthCode(error) {
  if (!isBareUnauthenticated(error)) return error;
  return new GraphQLError('the token is not valid', {
    extensions: { code: 'UNAUTHENTICATED', http: { status: 401, headers: { 'WWW-Authenticate': CHALLENGE } } },
  });
}

const deniedFieldsKeepTheirShape = {
  onExecute({ args, executeFn, setExecuteFn }) {
    const context = args.contextValue;
    if (!context?.[DENIED]) return;
    setExecuteFn(async (executionArgs) => {
      const result = await executeFn(executionArgs);
      if (result && 'data' in result && result.data != null) {
        executed.set(context.request, structuredClone(result.data));
      }
      return result;
    });
  },
  onResultProcess({ request, result, setResult }) {
    if (result && !Array.isArray(result) && result.errors?.some(isBareUnauthenticated)) {
      setResult({ ...result, errors: result.errors.map(withAuthCode) });
      return;
    }
    const before = executed.get(request);
    if (before === undefined || !result || Array.isArray(result) || !('data' in result)) return;
    const errors = (result.errors ?? []).filter(
      (error) => !denials.has(error) || !error.path || reached(before, error.path.filter((key) => key !== '@')),
    );
    const data = liftAt(restoreNulls(result.data, before));
    const shown = errors.map(withoutAtInPath);
    setResult({ ...result, data, ...(shown.length ? { errors: shown } : { errors: undefined }) });
  },
};

export const gatewayConfig = defineConfig({
  jwt: {
    signingKeyProviders: [createRemoteJwksSigningKeyProvider({ jwksUri })],
    tokenLookupLocations: [bearerAccessToken],
    tokenVerification: { issuer, audience, algorithms: ['RS256', 'ES256'] },
    // anonymous callers are welcome (public data); a bad token is a 401, never anonymous
    reject: { missingToken: false, invalidToken: true },
    // the subgraphs verify the token themselves: it travels in the Authorization header
    forward: { payload: false, token: false },
  },
  genericAuth: {
    mode: 'protect-granular',
    resolveUserFn: (context) => context.jwt?.payload,
    extractScopes: (user) => (typeof user?.scope === 'string' ? user.scope.split(' ') : []),
    validateUser,
    // a denied field is null with its error, its siblings are served: citygraph's response shape
    rejectUnauthenticated: false,
  },
  propagateHeaders: {
    fromClientToSubgraphs({ request }) {
      const headers = {};
      for (const name of FORWARDED) {
        const value = request.headers.get(name);
        if (value) headers[name] = value;
      }
      if (routerSecret) headers['citygraph-router'] = routerSecret;
      return headers;
    },
  },
  plugins: () => [deniedFieldsKeepTheirShape],
  // the supergraph is a file: no polling, no registry
  pollingInterval: 0,
});
