// A real OpenID Connect provider (npm `oidc-provider`) on loopback, for the single sign-on
// test. Started by the `oidc_provider` fixture (tests/accounts/test_sso.py):
//   node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI ACCOUNTS_JSON
// ACCOUNTS_JSON maps a login name to its claims, e.g. {"olivia": {"email": "...",
// "email_verified": true}}. Its development sign-in pages take any password.
import Provider from "oidc-provider";

const [port, clientId, clientSecret, redirectUri, accountsJson] = process.argv.slice(2);
const accounts = JSON.parse(accountsJson);

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      response_types: ["code"],
      grant_types: ["authorization_code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
  cookies: { keys: ["billing-admin-test-only"] },
  features: { devInteractions: { enabled: true } },
});

provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`oidc-provider listening on http://127.0.0.1:${port}`);
});
