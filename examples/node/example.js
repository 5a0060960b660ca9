// Calls users.v1 from Node.js: adds a user, edits it with an expected version, reads it back with
// min_position, and follows StreamEvents live. The client is built at run time from the repository's
// protos/ (no generated code to keep in step); @grpc/grpc-js does the calls.
//
//   npm ci && node example.js
//
// USERS_COMMAND_ADDR / USERS_QUERY_ADDR say where the services are (default localhost:50051 / 50052),
// as for the `users` CLI. Every line printed is one JSON object, so that a test (or jq) can read it.
"use strict";

const crypto = require("node:crypto");
const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTOS = path.resolve(__dirname, "..", "..", "protos");
const CALL_SECONDS = 10; // every unary call carries a deadline
const STREAM_SECONDS = 30; // how long the example waits for its live event

function loadApi() {
  const definition = protoLoader.loadSync(
    ["users/v1/command_service.proto", "users/v1/query_service.proto"],
    {
      includeDirs: [PROTOS],
      keepCase: true, // field names as in the .proto files: min_position, expected_version ...
      longs: Number, // int64 positions and versions; exact up to 2^53
      enums: String, // event types by name: "EVENT_TYPE_USER_ADDED"
      defaults: true,
      oneofs: true, // StreamEventsResponse.kind says which field is set
    },
  );
  return grpc.loadPackageDefinition(definition).users.v1;
}

function deadline(seconds = CALL_SECONDS) {
  return { deadline: new Date(Date.now() + seconds * 1000) };
}

// Promisifies one unary call; a failure keeps its gRPC status code and message.
function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, deadline(), (error, response) => (error ? reject(error) : resolve(response)));
  });
}

// A request id as a version 7 UUID (RFC 9562): the time in milliseconds first, then random bits, so
// the event store's request-id index takes new ids in one place (README, "From another language").
function newRequestId() {
  const bytes = crypto.randomBytes(16);
  bytes.writeUIntBE(Date.now(), 0, 6);
  bytes[6] = (bytes[6] & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10
  const hex = bytes.toString("hex");
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
}

function say(what, fields) {
  console.log(JSON.stringify({ what, ...fields }));
}

// Follows the user's events after `afterPosition`: the replay, the caught-up marker, then live events,
// until `until(event)` says stop. Returns two promises: `caughtUp` (the replay is done; what follows
// is live) and `events` (every event seen, once `until` said stop).
function follow(queries, userId, afterPosition, until) {
  const stream = queries.StreamEvents({ after_position: afterPosition, user_id: userId }, deadline(STREAM_SECONDS));
  let finished = false;
  const caughtUp = new Promise((resolve, reject) => {
    stream.once("caught_up", resolve);
    stream.once("error", reject);
  });
  const events = new Promise((resolve, reject) => {
    const seen = [];
    stream.on("data", (message) => {
      if (message.kind === "caught_up") {
        say("caught_up", { position: message.caught_up.position });
        stream.emit("caught_up");
      } else if (message.kind === "event") {
        const e = message.event;
        seen.push(e);
        say("event", { position: e.position, type: e.type, user_id: e.user_id, version: e.version, name: e.name });
        if (until(e)) {
          finished = true;
          stream.cancel(); // we have what we came for: this ends the call with CANCELLED
          resolve(seen);
        }
      }
    });
    stream.on("error", (error) => finished || reject(error));
    stream.on("end", () => finished || reject(new Error("the stream ended before the live event")));
  });
  return { caughtUp, events };
}

async function main() {
  const api = loadApi();
  const credentials = grpc.credentials.createInsecure();
  const commands = new api.CommandService(process.env.USERS_COMMAND_ADDR || "localhost:50051", credentials);
  const queries = new api.QueryService(process.env.USERS_QUERY_ADDR || "localhost:50052", credentials);
  const name = process.argv[2] || "Ada Lovelace";

  // A request_id makes a retry safe: the same request again is answered, not applied twice.
  const added = await call(commands, "AddUser", { name, request_id: newRequestId() });
  const id = added.user.id;
  say("added", { id, name: added.user.name, version: added.user.version, position: added.position });

  // Follow this user's events from just before its first one; the edit below arrives live.
  const editedName = `${name} (edited from Node.js)`;
  const following = follow(queries, id, added.position - 1, (e) => e.type === "EVENT_TYPE_USER_EDITED");
  await following.caughtUp;

  const edited = await call(commands, "EditUser", {
    id,
    name: editedName,
    expected_version: added.user.version,
    request_id: newRequestId(),
  });
  say("edited", { id, name: edited.user.name, version: edited.user.version, position: edited.position });

  // The same expected version again is stale now: ABORTED, nothing written.
  try {
    await call(commands, "EditUser", { id, name: "lost update", expected_version: added.user.version });
    throw new Error("a stale expected_version was accepted");
  } catch (error) {
    if (error.code !== grpc.status.ABORTED) throw error;
    say("stale_edit_refused", { code: grpc.status[error.code], message: error.details });
  }

  // Read your own write: the query service answers once its read model has applied the edit.
  const read = await call(queries, "GetUser", { id, min_position: edited.position });
  say("read", { id, name: read.user.name, version: read.user.version, min_position: edited.position });

  await following.events;
  commands.close();
  queries.close();
}

main().catch((error) => {
  const code = error.code === undefined ? "" : ` (${grpc.status[error.code]})`;
  console.error(`error: ${error.details || error.message}${code}`);
  process.exit(1);
});
