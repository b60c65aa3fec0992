#!/usr/bin/env python3
"""Prints, per function, the IAM actions its policy in template.yaml grants beside the ones its
calls needed during the run (the local stack's `/_local/iam`). A granted action no call needed
is marked: a candidate to remove, unless a path no test takes needs it. Exits 1 if any call was
refused (action or resource): a call whose failure the code only logs (a backoff) would
otherwise pass every test.

usage: iam-report.py <the stack's ready file> [--refusals-only]
"""

import json
import sys
import urllib.request


def main(ready_file, table=True):
    with open(ready_file) as f:
        stack = json.load(f)
    base = stack["webhook_url"].rsplit("/webhook", 1)[0]
    with urllib.request.urlopen(base + "/_local/iam", timeout=10) as resp:
        report = json.load(resp)
    if table:
        print("IAM actions per function: granted by template.yaml, used by this run's calls")
    for function, r in sorted(report.items()) if table else []:
        used = set(r["used"])
        print(f"  {function}")
        for pattern in sorted(r["granted"]):
            hits = sorted(a for a in used if _matches(pattern, a))
            mark = ", ".join(hits) if hits else "-- not used by any test"
            print(f"    {pattern:<40} {mark}")
    denied = {f: r["denied"] for f, r in report.items() if r.get("denied")}
    for function, calls in sorted(denied.items()):
        for call in calls:
            print(f"  REFUSED {function}: {call}", file=sys.stderr)
    return 1 if denied else 0


def _matches(pattern, action):
    import fnmatch

    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], table="--refusals-only" not in sys.argv[2:]))
