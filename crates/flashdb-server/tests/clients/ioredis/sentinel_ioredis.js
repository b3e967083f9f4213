// ioredis's Sentinel client against a FlashDB group, driven by tests/sentinel.rs.
//
// Arguments: the nodes' client ports. Connects through the nodes (as Sentinels), writes
// through the master they name, prints "master PORT", then waits for a line on standard
// input (the test killed that master), writes again through the same client until the
// write goes through (ioredis asks the Sentinels again when its master is gone), and
// prints "master PORT" of the new one.
"use strict";

const Redis = require("ioredis");
const readline = require("readline");

const ports = process.argv.slice(2).map(Number);
const sentinels = ports.map((port) => ({ host: "127.0.0.1", port }));

function fail(msg) {
  console.error(msg);
  process.exit(1);
}

async function writeUntilItGoesThrough(client, key, value) {
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      await client.set(key, value);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function main() {
  const client = new Redis({
    sentinels,
    name: "mymaster",
    sentinelRetryStrategy: () => 100,
    retryStrategy: () => 100,
    connectTimeout: 2000,
    maxRetriesPerRequest: 5,
  });
  // While the master is down the client reports each failed connection; what is checked
  // is that the writes go through once a new master is elected.
  client.on("error", () => {});
  await client.set("from-ioredis", "1");
  if ((await client.get("from-ioredis")) !== "1") fail("read back a different value");
  const first = client.stream.remotePort;
  if (!ports.includes(first)) fail(`connected to ${first}, not one of ${ports}`);
  const role = await client.role();
  if (role[0] !== "master") fail(`the master named answers ROLE ${role[0]}`);
  console.log(`master ${first}`);

  const lines = readline.createInterface({ input: process.stdin });
  await new Promise((resolve) => lines.once("line", resolve));
  lines.close();
  await writeUntilItGoesThrough(client, "after-failover", "yes");
  if ((await client.get("after-failover")) !== "yes") fail("lost the write after failover");
  if ((await client.get("from-ioredis")) !== "1") fail("lost the write before failover");
  const now = client.stream.remotePort;
  if (now === first) fail(`still on ${first} after it was killed`);
  console.log(`master ${now}`);
  client.disconnect();
}

main().catch((e) => fail(`ioredis: ${e && e.stack ? e.stack : e}`));
