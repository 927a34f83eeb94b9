// Test-only Better Auth server used by the pytest suite.
//
// It runs a real `better-auth` instance (jwt + bearer plugins, email/password)
// on 127.0.0.1 so the Python API can be tested against tokens Better Auth
// really issues. Never deploy this: the /test/* routes are deliberately
// unauthenticated.
//
// Environment:
//   PORT                 port to listen on (127.0.0.1 only)          [required]
//   BETTER_AUTH_SECRET   Better Auth secret (HMAC + key encryption)  [required]
//   BETTER_AUTH_URL      this server's own origin, e.g. http://127.0.0.1:PORT [required]
//   DATABASE_URL         postgres URL                                [required]
//   PG_SCHEMA            PostgreSQL schema for Better Auth's tables  [optional]
//
// On start it creates PG_SCHEMA if missing, runs Better Auth's own migrations
// and prints exactly one line `READY <port>` on stdout once listening.

import http from "node:http";
import process from "node:process";

import pg from "pg";
import { betterAuth } from "better-auth";
import { symmetricDecrypt } from "better-auth/crypto";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { bearer } from "better-auth/plugins/bearer";
import { createJwk, jwt } from "better-auth/plugins/jwt";

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`missing required environment variable ${name}`);
    process.exit(2);
  }
  return value;
}

const port = Number.parseInt(requireEnv("PORT"), 10);
const secret = requireEnv("BETTER_AUTH_SECRET");
const baseURL = requireEnv("BETTER_AUTH_URL");
const databaseUrl = requireEnv("DATABASE_URL");
const pgSchema = process.env.PG_SCHEMA || "";

if (pgSchema && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(pgSchema)) {
  console.error(`PG_SCHEMA must be a plain identifier, got ${JSON.stringify(pgSchema)}`);
  process.exit(2);
}

if (pgSchema) {
  // Create the schema before Better Auth's pool (whose search_path points at it) is used.
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${pgSchema}"`);
  } finally {
    await client.end();
  }
}

const pool = new pg.Pool({
  connectionString: databaseUrl,
  ...(pgSchema ? { options: `-c search_path=${pgSchema}` } : {}),
});

/** JWT plugin options; defaults (EdDSA / Ed25519, 15 min tokens, iss = aud = baseURL). */
const jwtOptions = {};

/** @type {import("better-auth").BetterAuthOptions} */
const authOptions = {
  baseURL,
  secret,
  database: pool,
  emailAndPassword: { enabled: true, requireEmailVerification: false },
  plugins: [jwt(jwtOptions), bearer()],
  telemetry: { enabled: false },
  rateLimit: { enabled: false },
};

// Run Better Auth's own migrations (CREATE TABLE / ADD COLUMN for what is
// missing; idempotent) before the instance is created, so its startup schema
// check sees the tables.
const { runMigrations } = await getMigrations(authOptions);
await runMigrations();

const auth = betterAuth(authOptions);

// The JWT plugin encrypts private keys with the secret. When a schema is
// reused with a different BETTER_AUTH_SECRET, the newest key can no longer be
// decrypted and /api/auth/token fails with a 500, so drop such stale keys
// (test harness only; the plugin mints a fresh key on demand).
{
  const context = await auth.$context;
  const { rows } = await pool.query('SELECT "id", "privateKey" FROM "jwks"');
  const stale = [];
  for (const row of rows) {
    try {
      await symmetricDecrypt({ key: context.secretConfig, data: JSON.parse(row.privateKey) });
    } catch {
      stale.push(row.id);
    }
  }
  if (stale.length > 0) {
    await pool.query('DELETE FROM "jwks" WHERE "id" = ANY($1)', [stale]);
    console.error(`removed ${stale.length} jwks key(s) encrypted with another secret`);
  }
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : {};
}

function sendJson(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(data),
  });
  res.end(data);
}

/** Test-only routes. Return true when the request was handled. */
async function handleTestRoute(req, res) {
  const url = new URL(req.url ?? "/", baseURL);
  if (!url.pathname.startsWith("/test/")) return false;

  if (req.method === "POST" && url.pathname === "/test/rotate-key") {
    // Mint a fresh key pair through the JWT plugin's own helper. The signer
    // picks the newest live key (by createdAt), so subsequent tokens use the
    // new kid; older keys stay in the jwks table and in /api/auth/jwks.
    const context = await auth.$context;
    const key = await createJwk({ context }, jwtOptions);
    sendJson(res, 200, { kid: key.id });
    return true;
  }

  if (req.method === "POST" && url.pathname === "/test/sign-jwt") {
    // Sign an arbitrary payload with the current JWT plugin key (e.g. to
    // craft expired tokens). Body: {"payload": {...}}.
    const body = await readJson(req);
    const result = await auth.api.signJWT({ body: { payload: body.payload ?? {} } });
    sendJson(res, 200, result);
    return true;
  }

  sendJson(res, 404, { error: "unknown test route" });
  return true;
}

const authHandler = toNodeHandler(auth);

const server = http.createServer((req, res) => {
  handleTestRoute(req, res)
    .then((handled) => {
      if (!handled) return authHandler(req, res);
    })
    .catch((err) => {
      console.error(err);
      if (!res.headersSent) sendJson(res, 500, { error: String(err?.message ?? err) });
      else res.end();
    });
});

function shutdown() {
  server.close();
  pool.end().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`READY ${port}\n`);
});
