"""One person signing in to a capsule-mcp team server (`http --oauth`) with the Python SDK's own
OAuth client (PyPI `mcp` 2.3.0: `mcp.client.auth.OAuthClientProvider`, in-memory token storage),
then calling `crm_get_user {"id": "me"}`.

The redirect handler plays the browser with httpx2 and follows nothing on its own: GET the
authorize URL (the server's consent page), POST the decision, GET the sandbox Capsule's
authorise page, pick the demo user's link, GET the server's /oauth/callback, and read the code,
state and iss from the final redirect to the client's loopback redirect URI (nothing listens
there). The callback handler hands those to the SDK.

usage: python py_oauth.py --url URL --user ID [--decision approve|deny]
                          [--auth-method none|client_secret_post|client_secret_basic]
                          [--redirect-uri URI] [--refresh-after SECONDS]
                          [--client-metadata-url URL]

With --client-metadata-url the SDK names itself by that client ID metadata document URL
(its `client_metadata_url`) instead of registering, when the server advertises support.

Prints one line `OAUTH-REPORT {json}` on stdout: the browser's steps, the tool result, the
tokens and client the SDK holds (the Rust test uses them to probe the server), or the error.
Exits 0 whenever it could report; the Rust test judges the report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import traceback
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Browser:
    """Follows the sign-in by hand, recording each step."""

    def __init__(self, user: str, decision: str) -> None:
        self.user = user
        self.decision = decision
        self.steps: list[dict[str, Any]] = []
        self.result: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    def step(self, what: str, response: httpx2.Response) -> None:
        self.steps.append(
            {
                "what": what,
                "status": response.status_code,
                "location": response.headers.get("location"),
                "x_frame_options": response.headers.get("x-frame-options"),
                "csp": response.headers.get("content-security-policy"),
                "cache_control": response.headers.get("cache-control"),
            }
        )

    async def redirect_handler(self, authorization_url: str) -> None:
        try:
            await self._walk(authorization_url)
        except Exception as e:  # the callback handler reports it
            if not self.result.done():
                self.result.set_exception(e)

    async def _walk(self, authorization_url: str) -> None:
        async with httpx2.AsyncClient(follow_redirects=False, timeout=20) as http:
            consent = await http.get(authorization_url)
            self.step("consent", consent)
            if consent.status_code != 200:
                raise RuntimeError(f"consent page answered {consent.status_code}: {consent.text[:300]}")
            self.steps[-1]["client_named"] = "py-oauth-test" in consent.text
            self.steps[-1]["body"] = consent.text
            m = re.search(r'name="transaction" value="([^"]+)"', consent.text)
            if not m:
                raise RuntimeError("the consent page has no transaction field")
            action = urljoin(authorization_url, "/authorize/decision")
            decided = await http.post(action, data={"transaction": m.group(1), "decision": self.decision})
            self.step("decision", decided)
            location = decided.headers.get("location", "")
            if self.decision == "approve":
                page = await http.get(location)
                self.step("capsule", page)
                if page.status_code != 200:
                    raise RuntimeError(f"the sandbox's authorise page answered {page.status_code}")
                link = re.search(r'data-user="' + re.escape(self.user) + r'" href="([^"]+)"', page.text)
                if not link:
                    raise RuntimeError(f"the sandbox's page offers no user {self.user}")
                href = link.group(1).replace("&amp;", "&")
                approved = await http.get(urljoin(location, href))
                self.step("capsule-approve", approved)
                callback = await http.get(approved.headers["location"])
                self.step("callback", callback)
                location = callback.headers.get("location", "")
        query = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
        self.steps.append({"what": "final", "query_keys": sorted(query), "location_host": urlparse(location).netloc})
        self.result.set_result(query)

    async def callback_handler(self) -> AuthorizationCodeResult:
        query = await self.result
        if "error" in query:
            raise RuntimeError(f"authorization failed: {query['error']}")
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))


async def call_me(client: Client) -> Any:
    result = await client.call_tool("crm_get_user", {"id": "me"})
    if result.is_error:
        return {"is_error": True, "content": [getattr(c, "text", None) for c in result.content]}
    return result.structured_content


def leaf_errors(e: BaseException) -> list[str]:
    """The innermost errors of an exception group (anyio wraps task failures)."""
    if isinstance(e, BaseExceptionGroup):
        return [m for sub in e.exceptions for m in leaf_errors(sub)]
    return ["".join(traceback.format_exception_only(type(e), e)).strip()]


def token_view(storage: MemoryStorage) -> dict[str, Any]:
    t, c = storage.tokens, storage.client
    return {
        "access_token": t.access_token if t else None,
        "refresh_token": t.refresh_token if t else None,
        "client_id": c.client_id if c else None,
        "client_secret": c.client_secret if c else None,
        "token_endpoint_auth_method": c.token_endpoint_auth_method if c else None,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--decision", default="approve")
    parser.add_argument("--auth-method", default="none")
    parser.add_argument("--redirect-uri", default="http://127.0.0.1:47123/callback")
    parser.add_argument("--refresh-after", type=float)
    parser.add_argument("--client-metadata-url")
    opts = parser.parse_args()

    browser = Browser(opts.user, opts.decision)
    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=opts.url,
        client_metadata=OAuthClientMetadata(
            client_name="py-oauth-test",
            redirect_uris=[opts.redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method=opts.auth_method,
        ),
        storage=storage,
        redirect_handler=browser.redirect_handler,
        callback_handler=browser.callback_handler,
        client_metadata_url=opts.client_metadata_url,
    )
    report: dict[str, Any] = {"steps": browser.steps}
    try:
        async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
            async with Client(streamable_http_client(opts.url, http_client=http), mode="legacy") as client:
                report["me"] = await call_me(client)
                report["tokens"] = token_view(storage)
                if opts.refresh_after is not None:
                    await asyncio.sleep(opts.refresh_after)
                    report["me_after_refresh"] = await call_me(client)
                    report["tokens_after_refresh"] = token_view(storage)
    except BaseException as e:  # noqa: BLE001 - every failure is reported
        report["error"] = " | ".join(leaf_errors(e))
        report["tokens"] = report.get("tokens") or token_view(storage)
    print("OAUTH-REPORT " + json.dumps(report), flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception:
        traceback.print_exc()
        sys.exit(2)
