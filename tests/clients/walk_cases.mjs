// The cases of one tool's walk and the checks of their results, for ts_walk.mjs. py_walk.py
// derives the same cases by the same rules (tests/it/real_clients.rs counts them to match):
//   success          the plan's arguments
//   unknown_argument the plan's arguments plus `no_such_argument`
//   wrong_type       one typed argument given a value of another JSON type
//   missing_required the first `required` argument dropped (tools with a non-empty `required`)
//   not_found        `id` set to "999999" (tools taking an `id`), without `dry_run`: a dry run
//                    need not look the record up, while a real call for a record that does not
//                    exist changes nothing and must come back as not_found

export const UNKNOWN_ARGUMENT = "no_such_argument";
export const MISSING_ID = "999999";

const WRONG_VALUE = {
  // Not a number: ids are read from JSON numbers too (the Inspector sends `120`).
  string: true,
  integer: "not-a-number",
  number: "not-a-number",
  boolean: "not-a-boolean",
  array: "not-an-array",
  object: "not-an-object",
};

/** The one JSON type a property declares (ignoring "null"), or null. */
export function singleType(prop) {
  if (!prop || typeof prop !== "object") return null;
  const t = Array.isArray(prop.type) ? prop.type.filter((x) => x !== "null") : [prop.type];
  return t.length === 1 && t[0] in WRONG_VALUE ? t[0] : null;
}

/** The property the wrong_type case breaks: a required one first, then one the plan gives,
 * then any, each in schema order; only properties with a single declared type. */
export function wrongTypeTarget(schema, args) {
  const props = Object.entries(schema?.properties ?? {}).filter(([, p]) => singleType(p));
  const required = schema?.required ?? [];
  const pick =
    props.find(([n]) => required.includes(n)) ??
    props.find(([n]) => n in args) ??
    props[0];
  return pick ? { name: pick[0], type: singleType(pick[1]) } : null;
}

export function deriveCases(tool, args) {
  const schema = tool.inputSchema ?? {};
  const cases = [{ name: "success", kind: "success", args }];
  cases.push({
    name: "unknown_argument",
    kind: "bad_argument",
    argument: UNKNOWN_ARGUMENT,
    args: { ...args, [UNKNOWN_ARGUMENT]: true },
  });
  const target = wrongTypeTarget(schema, args);
  if (target) {
    cases.push({
      name: `wrong_type(${target.name}: ${target.type})`,
      kind: "bad_argument",
      argument: target.name,
      args: { ...args, [target.name]: WRONG_VALUE[target.type] },
    });
  }
  const required = schema.required ?? [];
  if (required.length > 0) {
    const dropped = required[0];
    const rest = { ...args };
    delete rest[dropped];
    cases.push({
      name: `missing_required(${dropped})`,
      kind: "missing_argument",
      argument: dropped,
      args: rest,
    });
  }
  if (schema.properties && "id" in schema.properties) {
    const missing = { ...args, id: MISSING_ID };
    delete missing.dry_run;
    cases.push({ name: "not_found", kind: "not_found", args: missing });
  }
  return cases;
}

const clip = (s, n = 300) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** Problems with the result of a success case. */
export function checkSuccess(result, tool) {
  const found = [];
  if (result.isError === true) {
    const text = result.content?.map((b) => b.text ?? "").join(" ") ?? "";
    found.push(`isError: true on a success case: ${clip(text)}`);
    return found;
  }
  if (result.isError !== undefined && result.isError !== false) {
    found.push(`isError is ${JSON.stringify(result.isError)}, expected false or absent`);
  }
  if (tool.outputSchema && (result.structuredContent === undefined || result.structuredContent === null)) {
    found.push("no structuredContent although the tool declares an outputSchema");
  }
  return found;
}

/** Problems with the result of an error case: isError true, no structuredContent, one text
 * block holding {"error": {"status", "code", "message", ...}}. */
export function checkError(result, c) {
  const found = [];
  if (result.isError !== true) {
    found.push(`isError is ${JSON.stringify(result.isError)}, expected true: ${clip(JSON.stringify(result))}`);
    return found;
  }
  if (result.structuredContent !== undefined && result.structuredContent !== null) {
    found.push(
      `structuredContent present on an error result (expected none): ${clip(JSON.stringify(result.structuredContent))}`,
    );
  }
  const blocks = result.content ?? [];
  if (blocks.length !== 1 || blocks[0].type !== "text") {
    found.push(`content is ${clip(JSON.stringify(blocks))}, expected exactly one text block`);
    return found;
  }
  const text = blocks[0].text ?? "";
  if (text.trim() === "") {
    found.push("the text block is empty");
    return found;
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch (e) {
    found.push(`the text block is not JSON (${e.message}): ${clip(text)}`);
    return found;
  }
  const err = body?.error;
  if (!err || typeof err !== "object") {
    found.push(`the text JSON has no "error" object: ${clip(text)}`);
    return found;
  }
  if (!Number.isInteger(err.status)) found.push(`error.status is not an integer: ${clip(text)}`);
  if (typeof err.code !== "string" || err.code === "") found.push(`error.code is not a non-empty string: ${clip(text)}`);
  if (typeof err.message !== "string" || err.message === "") {
    found.push(`error.message is not a non-empty string: ${clip(text)}`);
    return found;
  }
  if (c.argument && !err.message.includes(c.argument)) {
    found.push(`error.message does not name \`${c.argument}\`: ${clip(JSON.stringify(err.message))}`);
  }
  if (c.kind === "not_found" && (err.status !== 404 || err.code !== "not_found")) {
    found.push(`expected status 404 and code "not_found", got ${err.status} ${JSON.stringify(err.code)}: ${clip(err.message)}`);
  }
  return found;
}

export function summaryLine(r) {
  return (
    `WALK-SUMMARY client=${r.client} transport=${r.transport} protocol=${r.protocol_version} ` +
    `tools_listed=${r.tools_listed} ` +
    `calls=${r.calls} errors_checked=${r.errors_checked} ` +
    `resources=${r.beyond?.resources} templates=${r.beyond?.templates} ` +
    `prompts=${r.beyond?.prompts} completions=${r.beyond?.completions} ` +
    `problems=${r.problems.length}`
  );
}
