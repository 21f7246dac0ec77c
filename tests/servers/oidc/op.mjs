// A loopback OpenID provider for ESAP's tests (oidc-provider 9.x, ESM).
//
// Usage: PORT=9000 node op.mjs   (prints "READY <issuer>" once listening on 127.0.0.1)
//
// Environment:
//   PORT                            the issuer's port (default 9000)
//   OIDC_REDIRECT_URIS              comma-separated redirect URIs of both clients; when unset,
//                                   any http://127.0.0.1:<port>/<path> is accepted, because the
//                                   ESAP test server and the tests' callback servers take random ports
//   OIDC_POST_LOGOUT_REDIRECT_URIS  the same, for RP-initiated logout
//   OP_SIGNING_JWK_FILE             a private RSA JWK (JSON) to sign with; a fresh key when unset
//                                   (tests that play an attacker holding the key forge tokens with it)
//   OP_ACCESS_TOKEN_TTL             access token lifetime in seconds (default 3600)
//
// Clients: "esap"/"secret" (the one ESAP uses) and "esap-other"/"other-secret" (for negative
// tests: a code or token of one client must not work for the other). Both are confidential
// (client_secret_basic) and must use PKCE.
//
// Users: devInteractions accepts any login name and any password; the name becomes `sub`.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT || 9000);
const ISSUER = `http://127.0.0.1:${PORT}`;

// Any port and path on the loopback address, http only (RFC 8252 loopback redirection, but
// without requiring the path to be registered).
const LOOPBACK_URI = /^http:\/\/127\.0\.0\.1:\d+\//;
// Registered when no list is given; the loopback rule above admits the others.
const PLACEHOLDER_URI = 'http://127.0.0.1:1/';

function uriList(name) {
  const value = process.env[name];
  return value ? value.split(',').map((uri) => uri.trim()).filter(Boolean) : undefined;
}
const redirectUris = uriList('OIDC_REDIRECT_URIS');
const postLogoutRedirectUris = uriList('OIDC_POST_LOGOUT_REDIRECT_URIS');

function signingKey() {
  if (process.env.OP_SIGNING_JWK_FILE) return JSON.parse(readFileSync(process.env.OP_SIGNING_JWK_FILE, 'utf8'));
  // A fresh key per run (avoids the "dev keys" warning; no extra deps).
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig', alg: 'RS256' };
}
const jwk = signingKey();

const ACCOUNTS = {
  alice: { email: 'alice@example.org', name: 'Alice Example', groups: ['esap-users', 'admins'] },
};

function client(clientId, clientSecret) {
  return {
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris || [PLACEHOLDER_URI],
    post_logout_redirect_uris: postLogoutRedirectUris || [PLACEHOLDER_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  };
}

const configuration = {
  clients: [client('esap', 'secret'), client('esap-other', 'other-secret')],
  jwks: { keys: [jwk] },
  cookies: { keys: ['test-cookie-key-change-me'] },
  pkce: { required: () => true }, // the default forces PKCE only on public clients
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false, // put scope claims in the ID token too, not only at userinfo
  // Refresh tokens without requiring offline_access + prompt=consent:
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  features: {
    devInteractions: { enabled: true }, // built-in login and consent pages
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id] || { email: `${id}@example.org`, name: id, groups: ['esap-users'] };
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: account.email,
          email_verified: true,
          name: account.name,
          preferred_username: id,
          groups: account.groups,
        };
      },
    };
  },
  ttl: { AccessToken: Number(process.env.OP_ACCESS_TOKEN_TTL || 3600), IdToken: 3600, RefreshToken: 86400, Session: 86400, Interaction: 600, Grant: 86400 },
};

const provider = new Provider(ISSUER, configuration);

if (!redirectUris || !postLogoutRedirectUris) {
  const { prototype } = provider.Client;
  const registered = {
    redirect: prototype.redirectUriAllowed,
    postLogout: prototype.postLogoutRedirectUriAllowed,
  };
  if (!redirectUris) {
    prototype.redirectUriAllowed = function redirectUriAllowed(uri) {
      return LOOPBACK_URI.test(uri) || registered.redirect.call(this, uri);
    };
  }
  if (!postLogoutRedirectUris) {
    prototype.postLogoutRedirectUriAllowed = function postLogoutRedirectUriAllowed(uri) {
      return LOOPBACK_URI.test(uri) || registered.postLogout.call(this, uri);
    };
  }
}

// The built-in pages import a web font from Google; tests never leave the loopback address.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.response.is('html') && typeof ctx.body === 'string') {
    ctx.body = ctx.body.replace(/@import url\(https:[^)]*\);/g, '');
  }
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(PORT, '127.0.0.1', () => console.log(`READY ${ISSUER}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
