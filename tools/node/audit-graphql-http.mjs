#!/usr/bin/env node
// GraphQL-over-HTTP conformance audit (DESIGN section 10) of one endpoint.
//
//   node tools/node/audit-graphql-http.mjs http://127.0.0.1:8000/graphql
//
// Prints one JSON line per audit: {"id", "name", "status", "reason"} (status "ok", "notice", "warn" or
// "error"), then a summary on stderr. Exits 0 only when every audit is "ok": a warning is a failure
// here, because our server aims at 61/61 (FIELD-NOTES). Exit 2 is a usage error.
//
// The audits run one at a time rather than through `auditServer` (which runs them all at once with
// Promise.all): the lines come out in a stable order, and an audit that throws (a fatal error such as a
// refused connection) becomes an "error" line of its own instead of hiding every other result.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url || process.argv.length > 3) {
  process.stderr.write('usage: node audit-graphql-http.mjs URL\n');
  process.exit(2);
}
try {
  new URL(url);
} catch {
  process.stderr.write(`not a URL: ${url}\n`);
  process.exit(2);
}

const counts = {};
for (const audit of serverAudits({ url })) {
  let line;
  try {
    const result = await audit.fn();
    line = { id: result.id, name: result.name, status: result.status, reason: result.reason ?? null };
  } catch (err) {
    line = { id: audit.id, name: audit.name, status: 'error', reason: `audit threw: ${err?.cause?.message ?? err?.message ?? err}` };
  }
  counts[line.status] = (counts[line.status] ?? 0) + 1;
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const total = Object.values(counts).reduce((a, b) => a + b, 0);
const summary = Object.entries(counts).map(([status, n]) => `${n} ${status}`).join(', ');
process.stderr.write(`graphql-http audit of ${url}: ${total} audits: ${summary || 'none ran'}\n`);
process.exit(total > 0 && counts.ok === total ? 0 : 1);
