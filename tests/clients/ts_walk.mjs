// The TypeScript SDK walk: listTools, then callTool on every tool with the SDK's own output
// validation on, plus error cases derived from each tool's input schema (walk_cases.mjs).
//
// usage: node ts_walk.mjs --sdk sdk|sdk-1.24 --transport stdio|http|http-stateless
//                         --plan plan.json [--url URL] [-- SERVER_COMMAND ARGS...]
//
// Prints one summary line (WALK-SUMMARY ...) and one JSON report (WALK-REPORT {...}) on stdout;
// exits 0 whether or not problems were found (the Rust test judges the report), non-zero only
// when the walk itself could not run.
import { readFileSync } from "node:fs";
import { checkError, checkSuccess, deriveCases, summaryLine } from "./walk_cases.mjs";

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const opts = {};
const flags = dash === -1 ? argv : argv.slice(0, dash);
const serverCmd = dash === -1 ? [] : argv.slice(dash + 1);
for (let i = 0; i < flags.length; i += 2) opts[flags[i].replace(/^--/, "")] = flags[i + 1];
const pkg = { sdk: "@modelcontextprotocol/sdk", "sdk-1.24": "sdk-1.24" }[opts.sdk];
if (!pkg || !opts.transport || !opts.plan) {
  console.error("usage: node ts_walk.mjs --sdk sdk|sdk-1.24 --transport T --plan P [--url U] [-- CMD...]");
  process.exit(2);
}
// Read from node_modules directly: the SDK's "./*" export maps package.json into dist/.
const version = JSON.parse(
  readFileSync(new URL(`./node_modules/${pkg}/package.json`, import.meta.url), "utf8"),
).version;
const label = `ts-sdk@${version}`;
const { Client } = await import(`${pkg}/client/index.js`);
const { ResultSchema } = await import(`${pkg}/types.js`);
const plan = JSON.parse(readFileSync(opts.plan, "utf8"));

let transport;
if (opts.transport === "stdio") {
  const { StdioClientTransport } = await import(`${pkg}/client/stdio.js`);
  if (serverCmd.length === 0) throw new Error("stdio needs -- SERVER_COMMAND");
  // The server gets this process's environment (the test sets the sandbox's URL and token).
  transport = new StdioClientTransport({
    command: serverCmd[0],
    args: serverCmd.slice(1),
    env: process.env,
    stderr: "inherit",
  });
} else {
  const { StreamableHTTPClientTransport } = await import(`${pkg}/client/streamableHttp.js`);
  transport = new StreamableHTTPClientTransport(new URL(opts.url));
}

const problems = [];
const problem = (tool, kase, what) => problems.push({ tool, case: kase, problem: what });
const describe = (e) =>
  e && typeof e === "object" && "code" in e && typeof e.code === "number"
    ? `${e.constructor?.name ?? "Error"} ${e.code}: ${e.message}`
    : String(e?.message ?? e);

// The SDK hands the negotiated version to the transport; note it for the summary.
let protocol = "?";
const setVersion = transport.setProtocolVersion?.bind(transport);
transport.setProtocolVersion = (v) => {
  protocol = v;
  setVersion?.(v);
};
const client = new Client({ name: "capsule-mcp-real-client-walk", version: "1.0.0" });
await client.connect(transport);

let tools;
let listedBy = "listTools";
try {
  tools = (await client.listTools()).tools;
} catch (e) {
  problem("tools/list", "list", `listTools() rejected the whole list: ${describe(e)}`);
  // Go on with the raw list so the calls are still checked; the SDK's output validators are
  // built from it exactly as listTools() would have.
  listedBy = "raw tools/list (listTools() rejected it)";
  const raw = await client.request({ method: "tools/list", params: {} }, ResultSchema);
  tools = raw.tools ?? [];
  client.cacheToolMetadata(tools);
}

let calls = 0;
let errorsChecked = 0;
for (const tool of tools) {
  const args = plan[tool.name];
  if (args === undefined) {
    problem(tool.name, "plan", "no entry in tests/clients/plan.json");
    continue;
  }
  for (const c of deriveCases(tool, args)) {
    calls += 1;
    let result;
    try {
      result = await client.callTool({ name: tool.name, arguments: c.args }, undefined, {
        timeout: 30000,
      });
    } catch (e) {
      problem(tool.name, c.name, `callTool threw instead of returning a result: ${describe(e)}`);
      if (c.kind !== "success") errorsChecked += 1;
      continue;
    }
    const found =
      c.kind === "success"
        ? checkSuccess(result, tool)
        : checkError(result, c);
    if (c.kind !== "success") errorsChecked += 1;
    for (const f of found) problem(tool.name, c.name, f);
  }
}
// Beyond tools: list and read every resource and template, list and get every prompt with
// arguments from completion/complete. The SDK validates each result against its schemas.
const beyond = { resources: 0, templates: 0, prompts: 0, completions: 0 };
const readJson = async (uri) => {
  const r = await client.readResource({ uri });
  const c = r.contents?.[0];
  if (r.contents?.length !== 1 || c.uri !== uri || c.mimeType !== "application/json") {
    problem("resources/read", uri, `unexpected contents: ${JSON.stringify(r).slice(0, 300)}`);
    return;
  }
  JSON.parse(c.text);
};
try {
  for (const r of (await client.listResources()).resources) {
    await readJson(r.uri);
    beyond.resources += 1;
  }
  for (const t of (await client.listResourceTemplates()).resourceTemplates) {
    const done = await client.complete({ ref: { type: "ref/resource", uri: t.uriTemplate }, argument: { name: "id", value: "" } });
    beyond.completions += 1;
    const id = done.completion.values[0];
    if (id === undefined) {
      problem("completion/complete", t.uriTemplate, "no ids to complete");
      continue;
    }
    await readJson(t.uriTemplate.replace("{id}", id));
    beyond.templates += 1;
  }
  const fallback = { summary: "Agreed a demo", email: "nobody@example.com" };
  for (const p of (await client.listPrompts()).prompts) {
    const args = {};
    for (const a of p.arguments ?? []) {
      if (!a.required) continue;
      const done = await client.complete({ ref: { type: "ref/prompt", name: p.name }, argument: { name: a.name, value: "" } });
      beyond.completions += 1;
      args[a.name] = done.completion.values[0] ?? fallback[a.name];
    }
    const got = await client.getPrompt({ name: p.name, arguments: args });
    if (!(got.messages?.length >= 1) || got.messages[0].content.type !== "text") {
      problem("prompts/get", p.name, `unexpected messages: ${JSON.stringify(got).slice(0, 300)}`);
    }
    beyond.prompts += 1;
  }
} catch (e) {
  problem("beyond-tools", "resources/prompts/completions", describe(e));
}
await client.close();

const report = {
  beyond,
  client: label,
  transport: opts.transport,
  protocol_version: protocol,
  listed_by: listedBy,
  tools_listed: tools.length,
  calls,
  errors_checked: errorsChecked,
  problems,
};
console.log(summaryLine(report));
console.log(`WALK-REPORT ${JSON.stringify(report)}`);
process.exit(0);
