#!/usr/bin/env bash
# Uploads the reference inbox to the stack's InboxBucket (InboxHosting=cloudfront) with a
# config.json naming the stack's agent API, then invalidates the distribution.
# usage: STACK=<stack name> [META_APP_ID=<app id>] [GRAPH_VERSION=v25.0] deploy-web.sh
# Needs the AWS CLI with credentials for the stack's account. For another static host, copy
# web/dist there and write config.json beside index.html the same way.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
: "${STACK:?set STACK to the CloudFormation stack name}"
out() {
  aws cloudformation describe-stacks --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
BUCKET="$(out InboxBucketName)"
DIST="$(out InboxDistributionId)"
API="$(out AgentApiUrl)"
[ -n "$BUCKET" ] && [ "$BUCKET" != "None" ] || { echo "the stack has no InboxBucket: deploy it with InboxHosting=cloudfront" >&2; exit 1; }
python3 - "$ROOT/web/dist/config.json" "$API" "${META_APP_ID:-}" "${GRAPH_VERSION:-v25.0}" <<'PY'
import json, sys
path, api, app_id, version = sys.argv[1:5]
json.dump({"api_url": api.rstrip("/"), "facebook_app_id": app_id or None, "graph_version": version}, open(path, "w"))
PY
aws s3 sync "$ROOT/web/dist" "s3://$BUCKET" --delete
aws cloudfront create-invalidation --distribution-id "$DIST" --paths '/*' >/dev/null
echo "inbox: $(out InboxUrl)"
