"""Schemathesis hooks for pagedesk's agent API (loaded through SCHEMATHESIS_HOOKS).

`openapi.yaml` states every constraint JSON Schema can express. These hooks supply the rules it
can only state in words, so that "schema-valid" means "valid" when the fuzzer judges the API:

- `format: cursor`: opaque strings only the API makes. The fuzzer sends a `next_cursor` the
  running API returned for the same list, or none. (An `event-cursor` needs nothing: any string
  of its pattern is a feed position.)
- `format: iana-time-zone`: a zone name from the IANA database.
- Rules that span fields or need the account's state, each written in the document's words:
  a report's `from` before `to` and at most 366 days apart; business-hours spans that start
  before they end; unique routing-rule names; `agent_id` naming an added agent; the token of a
  person with full control of the Page (minted by the Meta simulator) when registering a Page; a
  Facebook Login token when connecting Pages; private replies only in comment conversations; a
  hand-off's `rule` naming an existing rule; a time zone that exists (the document gives its
  spelling); an agent's `pages` naming Pages of the account (and `assign`'s agent working the
  conversation's Page); a snooze's `until` in the coming year; a Page's settings field either
  given or inherited, not both; a URL's port one of those web servers use; a reply's
  `upload_id` naming a finished upload
  (the hooks send URLs instead); a webhook's `url` (the simulator's stand-in endpoint, not
  the drawn host), `page_ids` naming Pages of the account, `["*"]` standing alone, room
  under the 10 webhooks an account may have, and a replay of a webhook that is on.
- Path ids sometimes name real objects of the fuzzed account, so the operations' logic runs,
  not only their 404.

Every rule they supply is one DESIGN.md lists under "What the document says in words", and they
touch positive cases only: a negative case goes as drawn, so `--checks all` finds what an outside
run finds (the outside run without these hooks differs only by those listed rules).

The test that starts the run (tests/tests/openapi_fuzz.rs) passes PAGEDESK_FUZZ_* variables.
"""

import datetime
import json
import os
import urllib.parse
import urllib.request
import zoneinfo

import schemathesis
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

API = os.environ.get("PAGEDESK_FUZZ_API", "")
TOKEN = os.environ.get("PAGEDESK_FUZZ_TOKEN", "")
IDS = json.loads(os.environ.get("PAGEDESK_FUZZ_IDS", "{}"))
SIM = os.environ.get("PAGEDESK_FUZZ_SIM", "")
_LOGINS = [0]


def _sim(path, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(SIM + path, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _login(page_id):
    """A Facebook user of the simulator who manages `page_id`: their short-lived token."""
    _LOGINS[0] += 1
    user = {"id": f"66{os.getpid()}{_LOGINS[0]:06d}", "name": "Fuzz", "pages": [{"id": page_id, "name": "Fuzz Page"}]}
    return _sim("/_sim/fb-users", user)["user_access_token"]


ZONES = sorted(
    z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("posix/", "right/", "SystemV/"))
)
schemathesis.openapi.format("iana-time-zone", st.sampled_from(ZONES or ["UTC"]))
# Stand-ins that before_call swaps for real cursors (or drops).
schemathesis.openapi.format("cursor", st.just("cursor"))
schemathesis.openapi.format("event-cursor", st.just("cursor"))


def _call(method, path, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(
        API + path,
        data=data,
        method=method,
        headers={"Authorization": "Bearer " + TOKEN, "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")
    except Exception:
        return {}


def _get(path, query):
    url = API + path + "?" + urllib.parse.urlencode(query)
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except Exception:  # a refused query offers no cursor
        return {}


@schemathesis.hook
def flatmap_path_parameters(ctx, params):
    """Drawn ids, or ids of real objects of the account (Hypothesis picks, so --seed holds)."""
    if not params:
        return st.just(params)
    path = ctx.operation.path
    real = dict(params)
    kinds = {
        "/conversations/": "conversation",
        "/contacts/": "contact",
        "/agents/": "agent",
        "/webhooks/": "webhook",
    }
    for prefix, kind in kinds.items():
        if "id" in real and path.startswith(prefix) and IDS.get(kind):
            real["id"] = IDS[kind]
    # Deleting the fuzzed account's own Page would leave the other operations nothing to read.
    if "page_id" in real and ctx.operation.method.upper() != "DELETE" and IDS.get("page"):
        real["page_id"] = IDS["page"]
    return st.sampled_from([params, real])


def _report_range(query):
    """A `from` 30 days before `to` (or before now): a range the report accepts."""
    def parse(v):
        try:
            if "T" in v.upper():
                return datetime.datetime.fromisoformat(v.upper().replace("Z", "+00:00"))
            return datetime.datetime.fromisoformat(v + "T00:00:00+00:00")
        except ValueError:
            return None

    start = parse(query["from"]) if isinstance(query.get("from"), str) else None
    end = parse(query["to"]) if isinstance(query.get("to"), str) else None
    if ("from" in query and start is None) or ("to" in query and end is None):
        return  # not a time: the request is invalid and stays so
    end = end or datetime.datetime.now(datetime.timezone.utc)
    try:
        query["from"] = (end - datetime.timedelta(days=30)).date().isoformat()
    except OverflowError:
        query.pop("from", None)
        query.pop("to", None)


def _spare_the_fuzzed_state(case):
    """Schemathesis reuses ids it saw in answers (its resource pool), the fuzzed Page's among
    them. Deleting it would leave the other operations nothing to read, and making it only_me
    would take it from the agent the `assign` cases name while they run beside (two workers);
    a case drawn invalid elsewhere (a header) may still carry a valid body the API applies. So
    those cases name a Page that does not exist instead, except a valid sharing case, which
    keeps the Page shared (below)."""
    params = case.path_parameters or {}
    method, path = case.operation.method.upper(), case.operation.path
    # The agent the `assign` cases name is changed by no other case (the pool knows its id
    # from `GET /agents`).
    if path.startswith("/agents/{id}") and params.get("id") == IDS.get("assignee"):
        params["id"] = IDS.get("agent")
    if params.get("page_id") != IDS.get("page"):
        return
    if method == "DELETE" or (path == "/pages/{page_id}/sharing" and _negative(case)):
        params["page_id"] = "1" + IDS["page"][1:][::-1]


def _negative(case):
    """A case drawn to break the document: it goes as drawn, so the API's refusal of what the
    document refuses is checked (negative_data_rejection), never a request these hooks mended."""
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode == GenerationMode.NEGATIVE


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    _spare_the_fuzzed_state(case)
    if _negative(case):
        return
    path = case.operation.path
    method = case.operation.method.upper()
    query = case.query if isinstance(case.query, dict) else None
    body = case.body if isinstance(case.body, dict) else None

    if query and "cursor" in query:
        probe = {k: v for k, v in query.items() if k not in ("cursor", "limit")}
        probe["limit"] = 1
        target = case.formatted_path if hasattr(case, "formatted_path") else path
        cursor = _get(target, probe).get("next_cursor")
        if cursor:
            query["cursor"] = cursor
        else:
            del query["cursor"]
    if query and path == "/reports/csat" and ("from" in query or "to" in query):
        _report_range(query)

    if body is None:
        return
    settings = path in ("/settings", "/pages/{page_id}/settings")
    if settings and isinstance(body.get("business_hours"), dict):
        for day, spans in body["business_hours"].items():
            if isinstance(spans, list):
                fixed = []
                for span in spans:
                    if isinstance(span, list) and len(span) == 2 and all(isinstance(x, str) for x in span):
                        a, b = sorted(span)
                        if a != b:
                            fixed.append([a, b])
                    else:
                        fixed.append(span)
                body["business_hours"][day] = fixed
    if path == "/routing-rules" and isinstance(body.get("rules"), list):
        for i, rule in enumerate(body["rules"]):
            if isinstance(rule, dict) and isinstance(rule.get("name"), str):
                rule["name"] = f"{rule['name'][:90]} #{i}"
    if path.endswith("/assign") and isinstance(body.get("agent_id"), str):
        # An agent who works every Page and whom no other case changes (the `/agents/{id}`
        # cases change `agent`); the fuzzed Page stays shared (see sharing below).
        body["agent_id"] = IDS.get("assignee", body["agent_id"])
    if settings and isinstance(body.get("ai_agent"), dict) and isinstance(body["ai_agent"].get("url"), str):
        # A URL's port must be one web servers use (443, 80, 8443, or the operator's list).
        u = urllib.parse.urlsplit(body["ai_agent"]["url"])
        try:
            port = u.port
        except ValueError:
            port = None
        if port is not None and port not in (443, 80, 8443) and u.hostname:
            host = f"[{u.hostname}]" if ":" in u.hostname else u.hostname
            body["ai_agent"]["url"] = urllib.parse.urlunsplit((u.scheme, host, u.path, u.query, u.fragment))
    if path == "/pages/{page_id}" and method == "PUT":
        # Registering needs the token of a person Graph lists the Page for, with full control
        # of it (a Page token cannot show that); so does a Page an earlier case deleted.
        page_id = (case.path_parameters or {}).get("page_id")
        if isinstance(page_id, str) and page_id.isdigit():
            body["access_token"] = _login(page_id)
    if settings and isinstance(body.get("time_zone"), str) and body["time_zone"] not in ZONES:
        # The document's pattern is a zone's spelling; the zone must also exist.
        body["time_zone"] = ZONES[len(body["time_zone"]) % len(ZONES)] if ZONES else "UTC"
    if path == "/pages/connect":
        # What Facebook Login gives: a token of a person who manages a (new) Page.
        _LOGINS[0] += 1
        page_id = f"55{os.getpid()}{_LOGINS[0]:06d}"
        body["user_access_token"] = _login(page_id)
        body.pop("code", None)
        body.pop("redirect_uri", None)
        if "page_ids" in body:
            body["page_ids"] = [page_id]
        if isinstance(body.get("sharing"), dict) and body["sharing"].get("mode") != "only_me":
            del body["sharing"]
    if path.endswith("/messages") and method == "POST" and body.get("private") is True:
        body["private"] = False
    if path.endswith("/messages") and method == "POST" and isinstance(body.get("attachments"), list):
        # An upload_id must name a finished upload of the account; a drawn one names none.
        for a in body["attachments"]:
            if isinstance(a, dict) and "upload_id" in a:
                del a["upload_id"]
                a["url"] = "https://cdn.example/fuzz.png"
    if path == "/saved-replies/{shortcut}" and isinstance(body.get("text"), str) and "{{" in body["text"]:
        # Only the four placeholders the README names may stand between {{ and }}.
        body["text"] = body["text"].replace("{{", "{ {")
    if path == "/pages/{page_id}/sharing" and isinstance(body.get("rule"), str):
        # The rule must be one of the account's (422 names it otherwise).
        del body["rule"]
    if path == "/pages/{page_id}/sharing" and (case.path_parameters or {}).get("page_id") == IDS.get("page"):
        # The fuzzed Page stays shared: only_me would take it from the agent the `assign`
        # cases name, while they run beside this one (two workers).
        body["mode"] = "shared"
        body.pop("rule", None)
    if path == "/conversations/{id}/snooze" and isinstance(body.get("until"), str):
        # `until` must be in the future and at most 365 days ahead (the document says so in
        # words): a valid time moves to an hour from now, a string that is no time stays.
        try:
            datetime.datetime.fromisoformat(body["until"].upper().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
            body["until"] = soon.isoformat()
    if path.endswith("/handoff") and isinstance(body.get("rule"), str):
        del body["rule"]
    if path == "/pages/{page_id}/settings" and isinstance(body.get("inherit"), list):
        # A field is either the Page's own (given a value) or inherited, not both.
        body["inherit"] = [f for f in body["inherit"] if not (isinstance(f, str) and f in body)]
    if path.startswith("/webhooks") and body is not None:
        _webhook_body(path, method, case, body)
    if path == "/agents/{id}" and isinstance(body.get("pages"), list):
        # An agent's Pages must be Pages of the account as it is now (a DELETE case may have
        # forgotten the one the run started with).
        pages = [p["page_id"] for p in _get("/pages", {}).get("items") or []]
        body["pages"] = pages[:1] or None
        # The agent `assign` cases name works every Page (one limited to a Page gets 422
        # for another Page's conversation, as the document says).
        if (case.path_parameters or {}).get("id") == IDS.get("agent"):
            body["pages"] = None


def _webhook_body(path, method, case, body):
    """Webhook bodies: the rules `openapi.yaml` states in words."""
    if isinstance(body.get("url"), str):
        # Deliveries go to the simulator's stand-in endpoint, not to a drawn host.
        body["url"] = SIM + "/_bot/fuzz-webhook"
    events = body.get("events")
    if isinstance(events, list) and "*" in events and len(events) > 1:
        body["events"] = ["*"]
    if isinstance(body.get("page_ids"), list):
        pages = [p["page_id"] for p in _get("/pages", {}).get("items") or []]
        body["page_ids"] = pages[:1] or None
    if path == "/webhooks" and method == "POST":
        # At most 10 per account: make room, keeping the one the run started with.
        hooks = _get("/webhooks", {}).get("items") or []
        spare = [h["id"] for h in hooks if h["id"] != IDS.get("webhook")]
        while len(hooks) >= 10 and spare:
            _call("DELETE", "/webhooks/" + spare.pop(0))
            hooks = hooks[1:]
    if path == "/webhooks/{id}/replay":
        if "after" in body:
            # A position of the feed: a minute ago.
            now = datetime.datetime.now(datetime.timezone.utc).timestamp()
            body["after"] = str(int(now * 1000) - 60_000)
        webhook = (case.path_parameters or {}).get("id")
        if webhook == IDS.get("webhook"):
            # A replay needs the webhook on (a PATCH case may have switched it off).
            _call("PATCH", "/webhooks/" + webhook, {"enabled": True})
