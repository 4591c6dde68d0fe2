// Compose citygraph's subgraphs into a supergraph with Apollo's composition library.
//
//   node compose-supergraph.mjs SUBGRAPHS_DIR OUT_FILE [URL_TEMPLATE]
//
// SUBGRAPHS_DIR holds one `<name>.graphql` per subgraph (`python -m schema.federation DIR`);
// URL_TEMPLATE (default `http://{name}:8000/graphql`, the compose.yaml services) gives each
// subgraph's routing URL. Exits 1 on any composition error, and on any hint that is not in
// ACCEPTED_HINTS: a new hint is a change in how the graph composes, and someone should read it.
import { composeServices } from '@apollo/composition';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'graphql';

// Hints that say nothing is wrong for this graph, with the reason.
const ACCEPTED_HINTS = new Map([
  // filter inputs and enums are the same in every subgraph that uses them; Apollo notes that an
  // input type appears in several subgraphs even when every definition is identical
]);

const [dir, out, template = 'http://{name}:8000/graphql'] = process.argv.slice(2);
if (!dir || !out) {
  console.error('usage: compose-supergraph.mjs SUBGRAPHS_DIR OUT_FILE [URL_TEMPLATE]');
  process.exit(2);
}
const services = readdirSync(dir)
  .filter((f) => f.endsWith('.graphql'))
  .sort()
  .map((f) => {
    const name = basename(f, '.graphql');
    return { name, url: template.replaceAll('{name}', name), typeDefs: parse(readFileSync(join(dir, f), 'utf8')) };
  });
if (services.length === 0) {
  console.error(`no subgraph SDL in ${dir}`);
  process.exit(2);
}
const result = composeServices(services);
if (result.errors) {
  for (const error of result.errors) console.error(`error ${error.extensions?.code ?? ''}: ${error.message}`);
  process.exit(1);
}
const unexpected = [];
for (const hint of result.hints ?? []) {
  const code = hint.definition.code;
  const accepted = ACCEPTED_HINTS.has(code);
  console.error(`hint ${code}${accepted ? ' (accepted)' : ''}: ${hint.message}`);
  if (!accepted) unexpected.push(code);
}
if (unexpected.length) {
  console.error(`composition hints that need a look: ${[...new Set(unexpected)].join(', ')}`);
  process.exit(1);
}
writeFileSync(out, result.supergraphSdl.endsWith('\n') ? result.supergraphSdl : `${result.supergraphSdl}\n`);
console.error(`composed ${services.length} subgraphs into ${out}`);
