"""Schemathesis hooks for pagedesk's agent API (loaded through SCHEMATHESIS_HOOKS).

The document states every constraint JSON Schema can express. These hooks supply what it
cannot, so that "schema-valid" means "valid" when the fuzzer judges the API:

- `format: cursor` and `format: event-cursor` are opaque strings only the API makes (a
  `next_cursor` it returned); the fuzzer draws real ones, fetched from the running API for the
  same list, instead of random text.
- `format: iana-time-zone` is a zone name from the IANA database.
- Path ids sometimes name real objects of the fuzzed account (a conversation, a contact, an
  agent, the Page), so the operations' logic runs, not only their 404.
- A routing rule list whose names repeat is not valid (names are unique; JSON Schema cannot say
  that of a property across items).

The run is configured by the test that starts it (tests/tests/openapi_fuzz.rs) through
PAGEDESK_FUZZ_* variables.
"""

import json
import os
import random
import urllib.parse
import urllib.request
import zoneinfo

import schemathesis
from hypothesis import strategies as st

API = os.environ.get("PAGEDESK_FUZZ_API", "")
TOKEN = os.environ.get("PAGEDESK_FUZZ_TOKEN", "")
IDS = json.loads(os.environ.get("PAGEDESK_FUZZ_IDS", "{}"))

ZONES = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("posix/", "right/")))
schemathesis.openapi.format("iana-time-zone", st.sampled_from(ZONES or ["UTC"]))
# Replaced by a real one in map_query; any text will do here.
schemathesis.openapi.format("cursor", st.just("cursor"))
schemathesis.openapi.format("event-cursor", st.just("cursor"))


def _get(path, query):
    url = API + path + "?" + urllib.parse.urlencode(query)
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except Exception:  # a refused query has no cursor to offer
        return {}


@schemathesis.hook
def map_query(ctx, query):
    """Swap drawn cursors for ones the API made for the same list, or drop them."""
    if not query:
        return query
    path = ctx.operation.path
    if "cursor" in query:
        probe = {k: v for k, v in query.items() if k not in ("cursor", "limit")}
        probe["limit"] = 1
        cursor = _get(path.replace("{id}", IDS.get("conversation", "x")), probe).get("next_cursor")
        if cursor:
            query["cursor"] = cursor
        else:
            del query["cursor"]
    if "after" in query:
        items = _get("/events", {"limit": 20}).get("items") or []
        if items:
            query["after"] = random.choice(items)["id"]
        else:
            del query["after"]
    return query


def _real(kind):
    return IDS.get(kind)


@schemathesis.hook
def flatmap_path_parameters(ctx, params):
    """Drawn ids, or ids of real objects of the account (Hypothesis picks, so --seed holds)."""
    if not params:
        return st.just(params)
    path = ctx.operation.path
    real = dict(params)
    if "id" in real:
        kind = {"/conversations/": "conversation", "/contacts/": "contact", "/agents/": "agent"}
        for prefix, k in kind.items():
            if path.startswith(prefix) and _real(k):
                real["id"] = _real(k)
    # Deleting the fuzzed account's own Page would leave the other operations nothing to read.
    if "page_id" in real and ctx.operation.method.upper() != "DELETE" and _real("page"):
        real["page_id"] = _real("page")
    return st.sampled_from([params, real])


@schemathesis.hook
def filter_body(ctx, body):
    if ctx.operation.path == "/routing-rules" and isinstance(body, dict):
        names = [r.get("name") for r in body.get("rules") or [] if isinstance(r, dict)]
        return len(names) == len(set(map(str, names)))
    return True
