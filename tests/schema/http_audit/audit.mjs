// Runs the graphql-http server audit against AUDIT_URL, sending AUDIT_TOKEN as a bearer token,
// and prints one JSON array of {id, name, status, reason} on stdout (status: ok, notice, warn, error).
import { auditServer } from "graphql-http";

const url = process.env.AUDIT_URL;
const token = process.env.AUDIT_TOKEN;
if (!url || !token) {
  console.error("AUDIT_URL and AUDIT_TOKEN are required");
  process.exit(2);
}

// The audit's client is an authenticated one: every request carries the bearer token.
function authenticatedFetch(input, init = {}) {
  const headers = new Headers(init.headers || {});
  headers.set("Authorization", `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn: authenticatedFetch });
const summary = [];
for (const result of results) {
  summary.push({
    id: result.id,
    name: result.name,
    status: result.status,
    reason: result.status === "ok" ? null : result.reason,
  });
}
process.stdout.write(JSON.stringify(summary));
