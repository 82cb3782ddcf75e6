#!/usr/bin/env python3
"""Regenerates `link/hot-text.ld`: the functions the HTTP server runs, placed together.

Why (issue 14): the kernel maps a binary's code 64 KiB at a time around each page a process
touches (fault-around). Left in the compiler's order, the few megabytes of code that start the
server and answer a call are spread over the whole 18 MB `.text`, so nearly all of it became
resident. Placed together by `hot-text.ld`, that code fills a few megabytes and the rest is
never read.

What it does: builds nothing. It runs the release binary under callgrind (valgrind), once in
each HTTP mode (stateless, and with a session), against the built-in sandbox, with the calls an
agent makes most (initialize, tools/list, gets, lists, a search), and writes every function
that ran as an input-section pattern. Patterns leave out what changes from build to build:
crate disambiguators, back-references and the instantiating crate of v0 symbol names
(`.cargo/config.toml` asks for v0, whose names carry generic arguments, so one instance of a
generic is named and not all),
the hash of legacy names (the precompiled standard library), and LTO's `.llvm.N` suffixes.
A function the list misses still links, in `.text` as before.

The list is in the order the code first runs, phase by phase (callgrind dumps between them):
start-up, `initialize`, `tools/list`, then one call of each tool in turn, then the same calls
from four clients at once, then shut-down. Code that runs together so sits together: a server
that only ever answers `crm_get_contact` keeps start-up and that call's code resident, not the
code of tools it never runs, which the kernel's fault-around would otherwise map along with its
neighbours. Within a phase, functions are in name order.

    cargo build --release && cp target/release/capsule-mcp /tmp/release
    cargo bench --bench http --no-run && python3 link/hot-text.py /tmp/release target/release/capsule-mcp

With several binaries the list is the union of what ran in each: the release and bench
profiles inline differently, so each has functions the other does not. The list also keeps
every pattern of the previous one that still names a function of these binaries: which
slow paths run (a pool that grows, a timer reset, an allocator refill) varies from run to run
with the threads' timing, and a function that ran once under load will run again. `--fresh`
starts from nothing.

Needs valgrind (with callgrind_control) and nm. `cargo bench --bench http` shows the effect (peak RSS).
"""

import fnmatch
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "link" / "hot-text.ld"
ADMIN_TOKEN = "sandbox-admin"
ACCEPT = "application/json, text/event-stream"
VERSION = "2025-06-18"


def wait_for(stream, prefix, what):
    """Reads lines until one starts with (or contains) `prefix`; returns the rest of it."""
    for raw in stream:
        line = raw.decode(errors="replace").strip()
        at = line.find(prefix)
        if at >= 0:
            return line[at + len(prefix):].strip()
    sys.exit(f"{what} exited before saying {prefix!r}")


def drain(stream):
    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()


class Client:
    """One keep-alive connection to the server's /mcp."""

    def __init__(self, host, port):
        self.conn = http.client.HTTPConnection(host, port, timeout=120)
        self.session = None
        self.next_id = 0

    def post(self, method, params=None, notify=False):
        body = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            body["params"] = params
        if not notify:
            self.next_id += 1
            body["id"] = self.next_id
        headers = {"content-type": "application/json", "accept": ACCEPT,
                   "mcp-protocol-version": VERSION}
        if self.session:
            headers["mcp-session-id"] = self.session
        self.conn.request("POST", "/mcp", json.dumps(body), headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            sys.exit(f"{method}: HTTP {response.status}: {data[:300]!r}")
        self.session = response.getheader("mcp-session-id") or self.session
        return data

    def call(self, name, arguments):
        data = self.post("tools/call", {"name": name, "arguments": arguments})
        if b'"isError":true' in data:
            sys.exit(f"{name} {arguments}: a tool error: {data[:300]!r}")


# The calls of the workload, in the order one client first makes them (one phase each).
CALLS = [
    ("crm_get_contact", lambda contact, account: {"id": contact}),
    ("crm_list_contacts", lambda contact, account: {"limit": 5}),
    ("crm_get_account", lambda contact, account: {"id": account}),
    ("crm_list_opportunities", lambda contact, account: {"limit": 5}),
    ("crm_list_tasks", lambda contact, account: {"limit": 5}),
    ("crm_search", lambda contact, account: {"query": "a", "limit": 5}),
]
# Every phase, in order; a function's rank is the first phase it ran in, in any run.
PHASES = ["start", "initialize", "tools/list", *(name for name, _ in CALLS), "load", "stop"]


def workload(host, port, sessions, contact, account, dump):
    """One client walks the phases, `dump(phase)` after each; then four clients at once."""

    def open_client():
        c = Client(host, port)
        if sessions:
            c.post("initialize", {"protocolVersion": VERSION, "capabilities": {},
                                  "clientInfo": {"name": "hot-text", "version": "1"}})
            c.post("notifications/initialized", notify=True)
        return c

    first = open_client()
    if sessions:
        dump("initialize")
    first.post("tools/list", {})
    dump("tools/list")
    for name, arguments in CALLS:
        first.call(name, arguments(contact, account))
        dump(name)

    def one_client(rounds):
        c = open_client()
        c.post("tools/list", {})
        for _ in range(rounds):
            for name, arguments in CALLS:
                c.call(name, arguments(contact, account))

    # `sys.exit` in a thread ends only that thread: failures are carried back and end the run,
    # so a list is never written from a workload that went wrong.
    failures = []

    def guarded(rounds):
        try:
            one_client(rounds)
        except BaseException as e:  # noqa: BLE001 - reported below, whatever it was
            failures.append(e)

    threads = [threading.Thread(target=guarded, args=(15,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit(f"the workload failed: {failures[0]}")
    dump("load")


def earliest(rank, name, phase_rank):
    """Keeps in `rank` the earlier of the phases `name` is known to have first run in."""
    rank[name] = min(rank.get(name, len(PHASES)), phase_rank)


def profile(binary, api, mode, out, contact, account):
    """The functions that ran in each phase: {phase: set of names}."""
    args = ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}",
            binary, "http", "--listen", "127.0.0.1:0"]
    if mode == "stateless":
        args.append("--stateless")
    # The environment the bench gives (no RUST_LOG: the default filter's code path).
    env = {"PATH": os.environ.get("PATH", ""), "CAPSULE_API_URL": api,
           "CAPSULE_ACCESS_TOKEN": ADMIN_TOKEN}
    server = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = wait_for(server.stdout, "capsule-mcp listening on http://", f"the {mode} server")
    drain(server.stdout)
    host, port = url.split("/")[0].rsplit(":", 1)
    # callgrind writes `out.1`, `out.2`, ... at each dump (the costs since the one before), and
    # `out` at exit.
    dumps = []

    def dump(phase):
        subprocess.run(["callgrind_control", "--dump", str(server.pid)], check=True,
                       capture_output=True)
        dumps.append(phase)

    dump("start")
    workload(host, int(port), mode == "sessions", contact, account, dump)
    server.send_signal(signal.SIGINT)
    if server.wait(timeout=120) != 0:
        sys.exit(f"the {mode} server exited with {server.returncode}")
    files = [f"{out}.{n}" for n in range(1, len(dumps) + 1)] + [out]
    return dict(zip(dumps + ["stop"], functions_run(files)))


def functions_run(outputs):
    """The functions with a cost in each of one run's callgrind files, in their order. Names are
    compressed across the run's files: `fn=(12) name` the first time, `fn=(12)` after."""
    names, phases = {}, []
    for out in outputs:
        ran = set()
        with open(out, errors="replace") as f:
            for line in f:
                m = re.match(r"c?fn=\((\d+)\)(?: (\S+))?$", line.rstrip("\n"))
                if m:
                    if m.group(2):
                        names[m.group(1)] = m.group(2)
                    if m.group(1) in names:
                        ran.add(names[m.group(1)])
        phases.append(ran)
    return phases


def text_symbols(binary):
    nm = subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True,
                        text=True).stdout
    return {p[2] for p in (line.split() for line in nm.splitlines())
            if len(p) == 3 and p[1] in "tTW"}


B62 = re.compile(r"[0-9a-zA-Z]*_")
DECIMAL = re.compile(r"0|[1-9][0-9]*")


class V0:
    """Walks a v0 symbol name (RFC 2603) to find what varies between builds: the values of
    disambiguators and back-references, whose positions only the grammar knows."""

    def __init__(self, s):
        self.s, self.i, self.vary = s, 0, []

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def eat(self, c):
        if self.peek() == c:
            self.i += 1
            return True
        return False

    def b62(self, varies):
        m = B62.match(self.s, self.i)
        if not m:
            raise ValueError("base-62 number")
        if varies:
            self.vary.append((m.start(), m.end() - 1))
        self.i = m.end()

    def decimal(self):
        m = DECIMAL.match(self.s, self.i)
        if not m:
            raise ValueError("decimal")
        self.i = m.end()
        return int(m.group())

    def ident(self, disambiguated=True, varies=False):
        if disambiguated and self.eat("s"):
            self.b62(varies)
        self.eat("u")
        n = self.decimal()
        if n:
            self.eat("_")  # separates the length from bytes that start with a digit or `_`
        self.i += n

    def backref(self):
        self.b62(True)

    def path(self):
        c = self.peek()
        self.i += 1
        if c == "C":
            self.ident(varies=True)
        elif c == "M":
            self.impl_path()
            self.type()
        elif c == "X":
            self.impl_path()
            self.type()
            self.path()
        elif c == "Y":
            self.type()
            self.path()
        elif c == "N":
            self.i += 1  # namespace
            self.path()
            self.ident()
        elif c == "I":
            self.path()
            while not self.eat("E"):
                self.generic_arg()
        elif c == "B":
            self.backref()
        else:
            raise ValueError(f"path {c!r}")

    def impl_path(self):
        if self.eat("s"):
            self.b62(False)
        self.path()

    def generic_arg(self):
        if self.eat("L"):
            self.b62(False)
        elif self.eat("K"):
            self.const()
        else:
            self.type()

    def const(self):
        if self.eat("p"):
            return
        if self.eat("B"):
            self.backref()
            return
        self.type()
        self.eat("n")
        while self.peek() and self.peek() != "_":
            self.i += 1
        self.i += 1

    def binder(self):
        if self.eat("G"):
            self.b62(False)

    def type(self):
        c = self.peek()
        if c and c.islower():
            self.i += 1
            return
        if c in "CMXYNI":
            self.path()
            return
        self.i += 1
        if c == "B":
            self.backref()
        elif c == "A":
            self.type()
            self.const()
        elif c in "SPO":
            self.type()
        elif c in "RQ":
            if self.eat("L"):
                self.b62(False)
            self.type()
        elif c == "F":
            self.binder()
            self.eat("U")
            if self.eat("K"):
                if not self.eat("C"):
                    self.ident(disambiguated=False)
            while not self.eat("E"):
                self.type()
            self.type()
        elif c == "D":
            self.binder()
            while not self.eat("E"):
                self.path()
                while self.eat("p"):
                    self.ident(disambiguated=False)
                    self.type()
            if self.eat("L"):
                self.b62(False)
        elif c == "T":
            while not self.eat("E"):
                self.type()
        else:
            raise ValueError(f"type {c!r}")

    def pattern(self):
        """The name with every varying value a wildcard, or None when it does not parse."""
        try:
            if not self.s.startswith("_R"):
                return None
            self.i = 2
            if self.peek().isdigit():
                self.decimal()
            self.path()
            end = self.i
            if self.i < len(self.s) and self.s[self.i] != ".":
                # The instantiating crate: which crate's copy of a generic instance survives
                # LTO differs from build to build, so it is left open.
                self.path()
        except (ValueError, IndexError):
            return None
        out, at = [], 0
        for start, stop in self.vary:
            if start >= end:
                break
            out.append(self.s[at:start])
            out.append("*")
            at = stop
        out.append(self.s[at:end])
        return "".join(out) + "*"


def pattern(name):
    base = re.sub(r"\.llvm\.\d+$", "", name)
    if base.startswith("_R"):
        return V0(base).pattern()
    legacy = re.match(r"(_ZN.*17h)[0-9a-f]{16}E$", base)
    if legacy:
        return legacy.group(1) + "*"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", base):
        return base  # C: mimalloc, libc glue
    return None


def previous_patterns():
    """The patterns of the list as it is now, in its order."""
    if not OUT.exists():
        return []
    return re.findall(r"^    \*\(\.text\.(\S+) ", OUT.read_text(), re.M)


def run_once(binary):
    """The functions of `binary` that ran, each with the first phase it ran in (its rank), over
    both HTTP modes."""
    known = text_symbols(binary)
    sandbox = subprocess.Popen([binary, "sandbox", "--listen", "127.0.0.1:0"],
                               env={"PATH": os.environ.get("PATH", ""), "RUST_LOG": "warn"},
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        base = wait_for(sandbox.stdout, "Sandbox Capsule API listening at ", "the sandbox")
        drain(sandbox.stdout)
        host, port = base.removeprefix("http://").split("/")[0].rsplit(":", 1)
        api = f"http://{host}:{port}/api/v2"
        c = http.client.HTTPConnection(host, int(port))
        c.request("POST", "/_sandbox/config", json.dumps({"rate_limit_per_hour": 2**32 - 1}),
                  {"content-type": "application/json"})
        c.getresponse().read()
        c.request("GET", "/api/v2/parties?perPage=100",
                  headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        parties = json.loads(c.getresponse().read())["parties"]
        contact = next(str(p["id"]) for p in parties if p["type"] == "person")
        account = next(str(p["id"]) for p in parties if p["type"] == "organisation")
        rank = {}
        with tempfile.TemporaryDirectory() as tmp:
            for mode in ["stateless", "sessions"]:
                out = os.path.join(tmp, f"callgrind.{mode}")
                for phase, ran in profile(binary, api, mode, out, contact, account).items():
                    for name in ran & known:
                        earliest(rank, name, PHASES.index(phase))
        return rank
    finally:
        sandbox.kill()


def main():
    # Builds of the same source can differ in what LTO inlines (the release and bench profiles
    # do, in a few hundred functions): the list is the union of every binary given.
    args = sys.argv[1:]
    fresh = "--fresh" in args
    binaries = [a for a in args if a != "--fresh"] or [str(ROOT / "target/release/capsule-mcp")]
    rank, symbols = {}, set()
    for binary in binaries:
        for name, r in run_once(binary).items():
            earliest(rank, name, r)
        symbols |= text_symbols(binary)
    # (pattern, phase) in order: by the first phase a function ran in, then by name.
    patterns, seen, unparsed = [], set(), 0
    for name in sorted(rank, key=lambda n: (rank[n], n)):
        p = pattern(name)
        if p is None or not fnmatch.fnmatchcase(name, p):
            unparsed += 1
        elif p not in seen:
            patterns.append((p, PHASES[rank[name]]))
            seen.add(p)
    kept = 0
    if not fresh:
        for p in previous_patterns():
            if p in seen:
                continue
            matches = re.compile(fnmatch.translate(p)).match
            if any(matches(name) for name in symbols):
                patterns.append((p, "kept from the previous list"))
                seen.add(p)
                kept += 1
    with open(OUT, "w") as f:
        f.write("/* Generated by link/hot-text.py: the functions the HTTP server runs to start\n"
                "   and answer calls, placed together before .text in the order they first run\n"
                "   (see that script). */\n")
        f.write("SECTIONS\n{\n  .text.hot :\n  {\n")
        phase = None
        for p, at in patterns:
            if at != phase:
                f.write(f"    /* {at} */\n")
                phase = at
            f.write(f"    *(.text.{p} .text.unlikely.{p})\n")
        f.write("  }\n}\nINSERT BEFORE .text;\n")
    print(f"{len(rank)} functions ran ({unparsed} names not understood, left out); "
          f"{len(patterns)} patterns written to {OUT.relative_to(ROOT)}, {kept} of them kept "
          "from the previous list")


if __name__ == "__main__":
    main()
