"""The Python SDK walk (PyPI `mcp` 2.3.0): list_tools, then call_tool on every tool, plus the
error cases derived from each tool's input schema by the rules of walk_cases.mjs. Every schema
must be valid Draft 2020-12 (check_schema) and every successful structuredContent must validate
against the tool's outputSchema (jsonschema's Draft202012Validator), on top of the SDK's own
output validation.

usage: python py_walk.py --mode legacy|auto --transport stdio|http|http-stateless
                         --plan plan.json [--url URL] [-- SERVER_COMMAND ARGS...]

Prints one summary line (WALK-SUMMARY ...) and one JSON report (WALK-REPORT {...}) on stdout;
exits 0 whether or not problems were found (the Rust test judges the report), non-zero only when
the walk itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import sys
from importlib.metadata import version
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import PromptReference, ResourceTemplateReference

UNKNOWN_ARGUMENT = "no_such_argument"
MISSING_ID = "999999"
WRONG_VALUE: dict[str, Any] = {
    # Not a number: ids are read from JSON numbers too (the Inspector sends `120`).
    "string": True,
    "integer": "not-a-number",
    "number": "not-a-number",
    "boolean": "not-a-boolean",
    "array": "not-an-array",
    "object": "not-an-object",
}


def single_type(prop: Any) -> str | None:
    if not isinstance(prop, dict):
        return None
    t = prop.get("type")
    types = [x for x in t if x != "null"] if isinstance(t, list) else [t]
    return types[0] if len(types) == 1 and types[0] in WRONG_VALUE else None


def wrong_type_target(schema: dict[str, Any], args: dict[str, Any]) -> tuple[str, str] | None:
    props = [(n, single_type(p)) for n, p in (schema.get("properties") or {}).items()]
    props = [(n, t) for n, t in props if t]
    required = schema.get("required") or []
    for pick in (
        next((p for p in props if p[0] in required), None),
        next((p for p in props if p[0] in args), None),
        props[0] if props else None,
    ):
        if pick:
            return pick
    return None


def derive_cases(schema: dict[str, Any], args: dict[str, Any]) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = [{"name": "success", "kind": "success", "args": args}]
    cases.append(
        {
            "name": "unknown_argument",
            "kind": "bad_argument",
            "argument": UNKNOWN_ARGUMENT,
            "args": {**args, UNKNOWN_ARGUMENT: True},
        }
    )
    target = wrong_type_target(schema, args)
    if target:
        name, typ = target
        cases.append(
            {
                "name": f"wrong_type({name}: {typ})",
                "kind": "bad_argument",
                "argument": name,
                "args": {**args, name: WRONG_VALUE[typ]},
            }
        )
    required = schema.get("required") or []
    if required:
        dropped = required[0]
        cases.append(
            {
                "name": f"missing_required({dropped})",
                "kind": "missing_argument",
                "argument": dropped,
                "args": {k: v for k, v in args.items() if k != dropped},
            }
        )
    if "id" in (schema.get("properties") or {}):
        missing = {k: v for k, v in args.items() if k != "dry_run"}
        missing["id"] = MISSING_ID
        cases.append({"name": "not_found", "kind": "not_found", "args": missing})
    return cases


def clip(s: str, n: int = 300) -> str:
    return s if len(s) <= n else s[:n] + "…"


def check_success(result: Any, output_schema: dict[str, Any] | None) -> list[str]:
    if result.is_error:
        text = " ".join(getattr(b, "text", "") for b in result.content)
        return [f"isError: true on a success case: {clip(text)}"]
    if output_schema is None:
        return []
    if result.structured_content is None:
        return ["no structuredContent although the tool declares an outputSchema"]
    errors = sorted(
        Draft202012Validator(output_schema).iter_errors(result.structured_content),
        key=lambda e: list(e.absolute_path),
    )
    return [
        f"structuredContent does not match the outputSchema (jsonschema 2020-12) at "
        f"/{'/'.join(map(str, e.absolute_path))}: {clip(e.message)}"
        for e in errors[:5]
    ]


def check_error(result: Any, case: dict[str, Any]) -> list[str]:
    found: list[str] = []
    if not result.is_error:
        dump = json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True))
        return [f"isError is {json.dumps(result.is_error)}, expected true: {clip(dump)}"]
    if result.structured_content is not None:
        found.append(
            "structuredContent present on an error result (expected none): "
            + clip(json.dumps(result.structured_content))
        )
    blocks = result.content
    if len(blocks) != 1 or blocks[0].type != "text":
        dump = json.dumps([b.model_dump(mode="json", exclude_none=True) for b in blocks])
        found.append(f"content is {clip(dump)}, expected exactly one text block")
        return found
    text = blocks[0].text or ""
    if not text.strip():
        found.append("the text block is empty")
        return found
    try:
        body = json.loads(text)
    except json.JSONDecodeError as e:
        found.append(f"the text block is not JSON ({e}): {clip(text)}")
        return found
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        found.append(f'the text JSON has no "error" object: {clip(text)}')
        return found
    status, code, message = err.get("status"), err.get("code"), err.get("message")
    if not isinstance(status, int) or isinstance(status, bool):
        found.append(f"error.status is not an integer: {clip(text)}")
    if not isinstance(code, str) or not code:
        found.append(f"error.code is not a non-empty string: {clip(text)}")
    if not isinstance(message, str) or not message:
        found.append(f"error.message is not a non-empty string: {clip(text)}")
        return found
    arg = case.get("argument")
    if arg and arg not in message:
        found.append(f"error.message does not name `{arg}`: {clip(json.dumps(message))}")
    if case["kind"] == "not_found" and (status != 404 or code != "not_found"):
        found.append(
            f'expected status 404 and code "not_found", got {status} {json.dumps(code)}: {clip(message)}'
        )
    return found


def describe(e: BaseException) -> str:
    code = getattr(e, "code", None)
    head = type(e).__name__ + (f" {code}" if isinstance(code, int) else "")
    return f"{head}: {clip(str(e), 500)}"


async def walk_beyond_tools(client: Any, problem: Any) -> dict[str, int]:
    """List and read every resource and template, list and get every prompt with arguments
    from completion/complete, as ts_walk.mjs does. The SDK validates each result's shape."""
    beyond = {"resources": 0, "templates": 0, "prompts": 0, "completions": 0}

    async def read_json(uri: str) -> bool:
        r = await client.read_resource(uri)
        contents = r.contents
        c = contents[0] if len(contents) == 1 else None
        if c is None or str(c.uri) != uri or c.mime_type != "application/json":
            problem("resources/read", uri, f"unexpected contents: {clip(repr(r))}")
            return False
        json.loads(c.text)
        return True

    try:
        for r in (await client.list_resources()).resources:
            if await read_json(str(r.uri)):
                beyond["resources"] += 1
        for t in (await client.list_resource_templates()).resource_templates:
            done = await client.complete(
                ResourceTemplateReference(uri=t.uri_template), {"name": "id", "value": ""}
            )
            beyond["completions"] += 1
            if not done.completion.values:
                problem("completion/complete", t.uri_template, "no ids to complete")
                continue
            if await read_json(t.uri_template.replace("{id}", done.completion.values[0])):
                beyond["templates"] += 1
        fallback = {"summary": "Agreed a demo", "email": "nobody@example.com"}
        for p in (await client.list_prompts()).prompts:
            args: dict[str, str] = {}
            for a in p.arguments or []:
                if not a.required:
                    continue
                done = await client.complete(
                    PromptReference(name=p.name), {"name": a.name, "value": ""}
                )
                beyond["completions"] += 1
                values = done.completion.values
                args[a.name] = values[0] if values else fallback.get(a.name, "")
            got = await client.get_prompt(p.name, args)
            if not got.messages or got.messages[0].content.type != "text":
                problem("prompts/get", p.name, f"unexpected messages: {clip(repr(got))}")
            beyond["prompts"] += 1
    except Exception as e:  # noqa: BLE001 - every failure is a finding
        problem("beyond-tools", "resources/prompts/completions", describe(e))
    return beyond


async def walk(opts: argparse.Namespace, server_cmd: list[str]) -> dict[str, Any]:
    with open(opts.plan, encoding="utf-8") as f:
        plan: dict[str, Any] = json.load(f)
    if opts.transport == "stdio":
        if not server_cmd:
            raise SystemExit("stdio needs -- SERVER_COMMAND")
        # The server gets this process's environment (the test sets the sandbox's URL and token).
        server: Any = StdioServerParameters(
            command=server_cmd[0], args=server_cmd[1:], env=dict(os.environ)
        )
    else:
        server = opts.url
    label = f"py-mcp@{version('mcp')}/{opts.mode}"
    problems: list[dict[str, str]] = []

    def problem(tool: str, case: str, what: str) -> None:
        problems.append({"tool": tool, "case": case, "problem": what})

    calls = errors_checked = 0
    tools: list[Any] = []
    protocol = "?"
    async with Client(server, mode=opts.mode, read_timeout_seconds=30) as client:
        protocol = client.protocol_version
        try:
            cursor = None
            while True:
                page = await client.list_tools(cursor=cursor)
                tools += page.tools
                cursor = page.next_cursor
                if not cursor:
                    break
        except Exception as e:  # noqa: BLE001 - every failure is a finding
            problem("tools/list", "list", f"list_tools() failed: {describe(e)}")
        for tool in tools:
            for which, schema in (("inputSchema", tool.input_schema), ("outputSchema", tool.output_schema)):
                if schema is None:
                    continue
                try:
                    Draft202012Validator.check_schema(schema)
                except SchemaError as e:
                    problem(tool.name, "schema", f"{which} is not valid JSON Schema 2020-12: {clip(e.message)}")
        for tool in tools:
            args = plan.get(tool.name)
            if args is None:
                problem(tool.name, "plan", "no entry in tests/clients/plan.json")
                continue
            for case in derive_cases(tool.input_schema or {}, args):
                calls += 1
                if case["kind"] != "success":
                    errors_checked += 1
                try:
                    result = await client.call_tool(tool.name, copy.deepcopy(case["args"]))
                except Exception as e:  # noqa: BLE001 - every failure is a finding
                    problem(tool.name, case["name"], f"call_tool raised instead of returning a result: {describe(e)}")
                    continue
                found = (
                    check_success(result, tool.output_schema)
                    if case["kind"] == "success"
                    else check_error(result, case)
                )
                for f in found:
                    problem(tool.name, case["name"], f)
        beyond = await walk_beyond_tools(client, problem)
    return {
        "beyond": beyond,
        "client": label,
        "transport": opts.transport,
        "protocol_version": protocol,
        "tools_listed": len(tools),
        "calls": calls,
        "errors_checked": errors_checked,
        "problems": problems,
    }


def main() -> None:
    argv = sys.argv[1:]
    server_cmd: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, server_cmd = argv[:i], argv[i + 1 :]
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", required=True, choices=["legacy", "auto"])
    parser.add_argument("--transport", required=True, choices=["stdio", "http", "http-stateless"])
    parser.add_argument("--plan", required=True)
    parser.add_argument("--url")
    opts = parser.parse_args(argv)
    report = asyncio.run(walk(opts, server_cmd))
    print(
        f"WALK-SUMMARY client={report['client']} transport={report['transport']} "
        f"protocol={report['protocol_version']} tools_listed={report['tools_listed']} "
        f"calls={report['calls']} errors_checked={report['errors_checked']} "
        f"resources={report['beyond']['resources']} templates={report['beyond']['templates']} "
        f"prompts={report['beyond']['prompts']} completions={report['beyond']['completions']} "
        f"problems={len(report['problems'])}",
        flush=True,
    )
    print("WALK-REPORT " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
