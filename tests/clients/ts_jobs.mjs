// The agent jobs of issue 12, done by the official TypeScript SDK (1.32.2) over stdio with the
// unified tools alone (never capsule_api_request): helpdesk, telephony, marketing, onboarding,
// proposal. tests/it/jobs.rs runs it against the real binary on the sandbox Capsule.
//
// usage: node ts_jobs.mjs --sandbox SANDBOX_BASE_URL [--jobs a,b] -- SERVER_COMMAND ARGS...
//
// For each job prints one line `JOB {json}`: the job's name, the tool calls it made (name and
// arguments), the key facts of their results, the Capsule requests it cost (the delta of the
// sandbox's /_sandbox/stats, by method and route template), and `ok` with any problems the
// runner itself saw. Exits 0 whether or not a job had problems (the Rust test judges them),
// non-zero only when the runner could not run.

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const flags = dash === -1 ? argv : argv.slice(0, dash);
const serverCmd = dash === -1 ? [] : argv.slice(dash + 1);
const opts = {};
for (let i = 0; i < flags.length; i += 2) opts[flags[i].replace(/^--/, "")] = flags[i + 1];
if (!opts.sandbox || serverCmd.length === 0) {
  console.error("usage: node ts_jobs.mjs --sandbox URL [--jobs a,b] -- SERVER_COMMAND ARGS...");
  process.exit(2);
}

const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");

const transport = new StdioClientTransport({
  command: serverCmd[0],
  args: serverCmd.slice(1),
  env: process.env,
  stderr: "inherit",
});
const client = new Client({ name: "capsule-mcp-agent-jobs", version: "1.0.0" });
await client.connect(transport);
// Lists the tools once so the SDK validates every structured result against its output schema.
const served = new Set((await client.listTools()).tools.map((t) => t.name));

/// The sandbox's request counts by "METHOD /route" (the admin API is not counted).
async function stats() {
  const r = await fetch(`${opts.sandbox}/_sandbox/stats`);
  if (!r.ok) throw new Error(`/_sandbox/stats: ${r.status}`);
  return (await r.json()).requests ?? {};
}

function delta(before, after) {
  const out = {};
  for (const [route, n] of Object.entries(after)) {
    const d = n - (before[route] ?? 0);
    if (d > 0) out[route] = d;
  }
  return out;
}

const sum = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

/// One job: its calls, facts, problems and the requests it cost.
function job(name) {
  const j = { job: name, calls: [], facts: {}, problems: [] };
  j.check = (cond, what) => {
    if (!cond) j.problems.push(what);
    return cond;
  };
  /// Calls a unified tool; returns its structured content, or null (a problem) on an error.
  /// Records the call and the Capsule requests that call alone cost.
  j.call = async (tool, args) => {
    if (tool === "capsule_api_request") throw new Error("the jobs use the unified tools alone");
    if (!served.has(tool)) j.problems.push(`${tool} is not served`);
    const before = await stats();
    const r = await client.callTool({ name: tool, arguments: args }, undefined, { timeout: 30000 });
    const cost = delta(before, await stats());
    j.calls.push({ tool, arguments: args, requests: cost });
    if (r.isError) {
      j.problems.push(`${tool} ${JSON.stringify(args)} failed: ${r.content?.[0]?.text}`);
      return null;
    }
    return r.structuredContent;
  };
  return j;
}

const ids = (list) => (list?.result ?? []).map((r) => r.id);
const sameSet = (a, b) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

// --- 1. Helpdesk: an incoming customer by email (exact); a follow-up task for the account owner.
async function helpdesk(j) {
  const email = "farid.khan@mail.example";
  const found = await j.call("crm_list_contacts", { email });
  j.check(ids(found).length === 1, `email ${email}: ${JSON.stringify(ids(found))}, not one contact`);
  const contact = found?.result?.[0];
  const accountId = contact?.account?.id;
  j.check(accountId, `contact has no account: ${JSON.stringify(contact)}`);
  const account = await j.call("crm_get_account", { id: accountId });
  const ownerId = account?.owner?.id;
  j.check(ownerId, `account ${accountId} has no owner`);
  const task = await j.call("crm_create_task", {
    subject: `Follow up with ${contact?.name} (helpdesk)`,
    content: `Incoming email from ${email}.`,
    owner_id: ownerId,
    contact_id: contact?.id,
    due_date: "2026-12-15",
  });
  j.check(task?.owner?.id === ownerId, `task owner ${task?.owner?.id}, account owner ${ownerId}`);
  j.facts = {
    email,
    contact_ids: ids(found),
    contact_owner_id: contact?.owner?.id,
    account_id: accountId,
    account_owner_id: ownerId,
    task_id: task?.id,
    task_owner_id: task?.owner?.id,
    task_contact_id: task?.contact?.id,
  };
}

// --- 2. Telephony: the caller by phone in six forms; the call logged and read back.
async function telephony(j) {
  const forms = [
    "+447700900004",
    "07700 900004",
    "07700900004",
    "00447700900004",
    "+44 (0)7700 900004",
    "+44-7700-900004",
  ];
  const lookups = [];
  for (const phone of forms) {
    const r = await j.call("crm_list_contacts", { phone });
    const cost = j.calls.at(-1).requests;
    lookups.push({ phone, ids: ids(r), requests: sum(cost) });
    j.check(sameSet(ids(r), ["124"]), `phone ${phone}: ${JSON.stringify(ids(r))}`);
    j.check(sum(cost) <= 2, `phone ${phone}: ${sum(cost)} requests`);
  }
  const written = {
    direction: "inbound",
    duration_seconds: 427,
    outcome: "connected",
    recording_url: "https://calls.example.com/rec/0004-1",
    occurred_at: "2026-11-30T14:05:00Z",
  };
  const content = "Caller asked about the SEO retainer renewal.";
  const created = await j.call("crm_create_engagement", {
    engagement_type: "call",
    contact_id: "124",
    content,
    ...written,
  });
  const id = created?.id;
  const got = await j.call("crm_get_engagement", { id });
  const list = await j.call("crm_list_engagements", {
    contact_id: "124",
    engagement_type: "call",
    detail: "full",
  });
  const listed = (list?.result ?? []).find((e) => e.id === id);
  j.check(listed, `engagement ${id} not in the contact's call list`);
  const readBack = { create: created, get: got, list: listed };
  for (const [where, r] of Object.entries(readBack)) {
    for (const [k, v] of Object.entries(written)) {
      j.check(r?.[k] === v, `${where}: ${k} is ${JSON.stringify(r?.[k])}, wrote ${JSON.stringify(v)}`);
    }
    j.check(r?.content === content, `${where}: content ${JSON.stringify(r?.content)}`);
  }
  const pick = (r) =>
    r && Object.fromEntries(["id", "content", ...Object.keys(written)].map((k) => [k, r[k]]));
  j.facts = {
    lookups,
    written,
    content,
    engagement_id: id,
    get: pick(got),
    list: pick(listed),
  };
}

// --- 3. Marketing: a segment by tags and a custom field, page by page; an engagement on each.
async function marketing(j) {
  const segment = { tags: ["Customer", "VIP"], custom_fields: { Local: true } };
  const pages = [];
  let page = await j.call("crm_list_accounts", { ...segment, limit: 2 });
  for (;;) {
    pages.push({ ids: ids(page), requests: j.calls.at(-1).requests });
    if (!page?.next_cursor || pages.length > 20) break;
    page = await j.call("crm_list_accounts", { cursor: page.next_cursor });
  }
  const members = pages.flatMap((p) => p.ids);
  j.check(members.length > 0, "the segment is empty");
  const content = "Campaign: invited to the VIP local-customer breakfast (spring 2027).";
  const engagements = [];
  for (const id of members) {
    const e = await j.call("crm_create_engagement", {
      engagement_type: "meeting",
      account_id: id,
      content,
      occurred_at: "2026-12-01T09:00:00Z",
    });
    j.check(e?.account?.id === id, `engagement for ${id} is on ${JSON.stringify(e?.account)}`);
    engagements.push({ account_id: id, engagement_id: e?.id, type: e?.engagement_type });
  }
  j.facts = { segment, pages, members, content, engagements };
}

// --- 4. Onboarding: deals won since a date; a project for one (linked to it) with tasks.
async function onboarding(j) {
  const since = "2026-06-01";
  const won = await j.call("crm_list_opportunities", {
    status: "won",
    closed_after: since,
    fetch_all: true,
  });
  const deals = won?.result ?? [];
  for (const d of deals) {
    j.check(d.status === "won", `${d.id} is ${d.status}`);
    j.check(d.close_date > since, `${d.id} closed ${d.close_date}`);
  }
  const deal = deals[0];
  j.check(deal, "no deal won since the date");
  const party = deal?.account?.id
    ? { account_id: deal.account.id }
    : { contact_id: deal?.contact?.id };
  const project = await j.call("crm_create_project", {
    name: `Onboarding: ${deal?.name}`,
    description: "Kick-off, access and first deliverable.",
    opportunity_id: deal?.id,
    ...party,
  });
  j.check(project?.opportunity?.id === deal?.id, `project's deal ${JSON.stringify(project?.opportunity)}`);
  const tasks = [];
  for (const [subject, due] of [
    ["Kick-off call", "2026-12-07"],
    ["Collect logins and brand assets", "2026-12-09"],
    ["First deliverable review", "2026-12-18"],
  ]) {
    const t = await j.call("crm_create_task", { subject, due_date: due, project_id: project?.id });
    j.check(t?.project?.id === project?.id, `task ${subject}: project ${JSON.stringify(t?.project)}`);
    tasks.push({ id: t?.id, subject: t?.subject, due_date: t?.due_date });
  }
  j.facts = {
    since,
    won_ids: ids(won),
    deal_id: deal?.id,
    project_id: project?.id,
    project_opportunity_id: project?.opportunity?.id,
    project_party: party,
    tasks,
  };
}

// --- 5. Proposal: a deal, its account and the account's contacts; Won by stage name; a note.
async function proposal(j) {
  const deal = await j.call("crm_get_opportunity", { id: "302" });
  const accountId = deal?.account?.id;
  j.check(accountId, `deal 302 has no account: ${JSON.stringify(deal)}`);
  const account = await j.call("crm_get_account", { id: accountId });
  const contacts = await j.call("crm_list_contacts", { account_id: accountId });
  for (const c of contacts?.result ?? []) {
    j.check(c.account?.id === accountId, `contact ${c.id} is at ${JSON.stringify(c.account)}`);
  }
  const won = await j.call("crm_update_opportunity", { id: "302", stage_id: "Won" });
  j.check(won?.stage?.name === "Won" && won?.status === "won", `after the move: ${JSON.stringify(won?.stage)} ${won?.status}`);
  const text = `Proposal signed by ${contacts?.result?.[0]?.name ?? "the client"}; deal won.`;
  const note = await j.call("crm_create_note", { opportunity_id: "302", content: text });
  j.check(note?.opportunity?.id === "302", `note on ${JSON.stringify(note?.opportunity)}`);
  j.facts = {
    document: {
      deal: { id: deal?.id, name: deal?.name, amount: deal?.amount, currency: deal?.currency, stage: deal?.stage?.name },
      account: { id: account?.id, name: account?.name, owner: account?.owner?.name, web_url: account?.web_url },
      contacts: (contacts?.result ?? []).map((c) => ({ id: c.id, name: c.name, email: c.email_addresses?.[0]?.email })),
    },
    stage_before: deal?.stage,
    stage_after: won?.stage,
    status_after: won?.status,
    note_id: note?.id,
    note_content: text,
  };
}

const jobs = { helpdesk, telephony, marketing, onboarding, proposal };
const wanted = opts.jobs ? opts.jobs.split(",") : Object.keys(jobs);
for (const name of wanted) {
  const j = job(name);
  const before = await stats();
  const started = Date.now();
  try {
    await jobs[name](j);
  } catch (e) {
    j.problems.push(`threw: ${e?.stack ?? e}`);
  }
  const requests = delta(before, await stats());
  const line = {
    job: name,
    ok: j.problems.length === 0,
    problems: j.problems,
    calls: j.calls,
    tool_calls: j.calls.length,
    facts: j.facts,
    requests,
    total_requests: sum(requests),
    millis: Date.now() - started,
  };
  console.log(`JOB ${JSON.stringify(line)}`);
}
await client.close();
process.exit(0);
