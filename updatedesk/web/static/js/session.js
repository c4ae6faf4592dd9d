// Who is signed in: the API token, kept in sessionStorage (this tab only, gone when it closes;
// never in the URL, where it would end up in history and logs).

const TOKEN_KEY = "updatedesk:token";
// Served only by `updatedesk dev`; `updatedesk serve` answers 404.
const DEMO_ACCOUNTS_URL = "/dev/demo-accounts";

export function currentToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The dev server's demo accounts ({email, role, token}), or [] on any other server. */
export async function demoAccounts() {
  try {
    const response = await fetch(DEMO_ACCOUNTS_URL, { headers: { Accept: "application/json" } });
    return response.ok ? (await response.json()).accounts : [];
  } catch {
    return [];
  }
}
