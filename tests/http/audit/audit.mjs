// Runs graphql-http's server audits against a live Steward and prints the results as JSON.
// Every request carries the bearer token from STEWARD_AUDIT_TOKEN: Steward authenticates
// before it reads a document, so an anonymous audit would only ever see 401s.
import { serverAudits } from "graphql-http";

const url = process.argv[2];
const token = process.env.STEWARD_AUDIT_TOKEN;

function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  results.push({ id: audit.id, name: audit.name, status: result.status, reason: result.reason ?? null });
}
process.stdout.write(JSON.stringify(results));
