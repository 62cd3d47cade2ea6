// Client compatibility checks for node `pg`, run unchanged against PostgreSQL and
// lakehouse (see matrix.py for the tables). Usage: node matrix.mjs DSN
// Prints one JSON object per line: {"client", "check", "ok", "detail"}.
import { createRequire } from "module";
const require = createRequire(process.env.NODE_PATH + "/");
const { Client } = require("pg");

function config(dsn) {
  const c = {};
  for (const part of dsn.split(/\s+/).filter(Boolean)) {
    const [k, ...v] = part.split("=");
    c[k] = v.join("=");
  }
  return {
    host: c.host, port: Number(c.port || 5432), user: c.user, password: c.password,
    database: c.dbname, options: c.options,
  };
}

const results = [];
async function check(name, fn) {
  const client = new Client(config(process.argv[2]));
  try {
    await client.connect();
    const detail = await fn(client);
    results.push({ client: "node-pg", check: name, ok: true, detail: String(detail ?? "") });
  } catch (e) {
    results.push({ client: "node-pg", check: name, ok: false, detail: String(e.message).slice(0, 300) });
  } finally {
    await client.end().catch(() => {});
  }
}

function assertEq(a, b) {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${JSON.stringify(a)} != ${JSON.stringify(b)}`);
}

await check("simple query", async (c) => {
  const r = await c.query("SELECT id, name FROM people ORDER BY id");
  assertEq(r.rows.map((x) => [String(x.id), x.name]), [["1", "Ann"], ["2", "Bob"]]);
});

await check("extended query with parameters", async (c) => {
  const r = await c.query("SELECT name, score FROM people WHERE id = $1", [1]);
  assertEq(r.rows, [{ name: "Ann", score: 3.5 }]);
});

await check("named statement reused", async (c) => {
  for (const id of [1, 2, 1]) {
    const r = await c.query({ name: "by_id", text: "SELECT name FROM people WHERE id = $1", values: [id] });
    assertEq(r.rows[0].name, id === 1 ? "Ann" : "Bob");
  }
});

await check("types of a row", async (c) => {
  const r = await c.query("SELECT active, born, seen, score FROM people WHERE id = 2");
  const row = r.rows[0];
  assertEq([row.active, row.score, row.born instanceof Date, row.seen instanceof Date], [false, null, true, true]);
});

for (const r of results) console.log(JSON.stringify(r));
