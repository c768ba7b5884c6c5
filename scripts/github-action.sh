#!/usr/bin/env bash
# The shell half of action.yml (the drop-in GitHub Action): one subcommand per step, so
# each step is testable with a fake GITHUB_* environment (tests/test_github_action.py).
#
#   github-action.sh install     venv in $RUNNER_TEMP, auditor installed from the action's checkout
#   github-action.sh toolchain   a rustc with the wasm32 std, else `rustup target add` (rustup only)
#   github-action.sh cache-key   a key that changes only with the crate's inputs (never github.sha)
#   github-action.sh scan        scan the crate (optionally one shard), SARIF from the same run,
#                                and on a pull request the base commit (git worktree) as baseline
#   github-action.sh gate        check --if-configured: annotations, job summary, comment.md, check.json
#   github-action.sh prune       drop cache entries this run did not use (the cache cannot grow for ever)
#   github-action.sh comment     post or update the one PR comment found by its marker
#   github-action.sh outputs     recommended variant, shipped bytes, verdict, report paths
#
# Inputs come as environment variables (action.yml maps them): AUDITOR_CRATE, AUDITOR_PROFILES,
# AUDITOR_ALLOCATORS, AUDITOR_SHARD, AUDITOR_BASELINE (auto | none | a report path),
# AUDITOR_MAX_INCREASE, AUDITOR_CACHE_DIR, AUDITOR_PYTHON, AUDITOR_SARIF_CATEGORY,
# AUDITOR_TOKEN (comment), AUDITOR_ACTION_PATH (the action's checkout), AUDITOR_OUT (where
# reports go; default $RUNNER_TEMP/auditor).
set -euo pipefail

say() { echo "auditor-action: $*" >&2; }
die() { say "$*"; exit 2; }

ACTION_PATH=${AUDITOR_ACTION_PATH:-$(cd "$(dirname "$0")/.." && pwd)}
RUNNER_TEMP=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
OUT=${AUDITOR_OUT:-$RUNNER_TEMP/auditor}
VENV=${AUDITOR_VENV:-$RUNNER_TEMP/auditor-venv}
CRATE=${AUDITOR_CRATE:-.}
CACHE=${AUDITOR_CACHE_DIR:-$RUNNER_TEMP/auditor-cache}
BASELINE=${AUDITOR_BASELINE:-auto}
WORKSPACE=${GITHUB_WORKSPACE:-$PWD}
MARKER='<!-- auditor-report -->'

output() { # name value: a step output (and the log)
  echo "$1=$2" >> "${GITHUB_OUTPUT:-/dev/null}"
  say "output $1=$2"
}

auditor_bin() {
  if [ -x "$VENV/bin/auditor" ]; then echo "$VENV/bin/auditor"; else command -v auditor || die "auditor is not installed (run the install step)"; fi
}
python_bin() {
  if [ -x "$VENV/bin/python" ]; then echo "$VENV/bin/python"; else echo "${AUDITOR_PYTHON:-python3}"; fi
}

# Whether this run is a pull request, and its base commit (from the event payload).
base_sha() {
  [ "${GITHUB_EVENT_NAME:-}" = pull_request ] || [ "${GITHUB_EVENT_NAME:-}" = pull_request_target ] || return 0
  [ -f "${GITHUB_EVENT_PATH:-}" ] || return 0
  "$(python_bin)" -c 'import json,sys; print(json.load(open(sys.argv[1]))["pull_request"]["base"]["sha"])' "$GITHUB_EVENT_PATH"
}

cmd_install() {
  local py=${AUDITOR_PYTHON:-python3}
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$py is older than Python 3.11 (add actions/setup-python)"
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$ACTION_PATH" >&2
  echo "$VENV/bin" >> "${GITHUB_PATH:-/dev/null}"
  output python "$VENV/bin/python"
  say "installed: $("$VENV/bin/auditor" --version)"
}

has_wasm32_std() { # rustc on PATH with the wasm32-unknown-unknown std in its sysroot
  local rustc sysroot
  rustc=${RUSTC:-$(command -v rustc || true)}
  [ -n "$rustc" ] || return 1
  sysroot=$("$rustc" --print sysroot 2>/dev/null) || return 1
  [ -d "$sysroot/lib/rustlib/wasm32-unknown-unknown" ]
}

cmd_toolchain() {
  if has_wasm32_std; then
    say "wasm32 toolchain: $(${RUSTC:-rustc} --version)"
    return 0
  fi
  if command -v rustup >/dev/null 2>&1; then
    say "adding the wasm32-unknown-unknown target with rustup"
    rustup target add wasm32-unknown-unknown >&2
    has_wasm32_std || die "rustup added wasm32-unknown-unknown but rustc still has no wasm32 std"
    return 0
  fi
  die "no Rust toolchain with the wasm32 target: add a Rust setup step (rustup, or dtolnay/rust-toolchain with targets: wasm32-unknown-unknown) before this action"
}

cmd_cache_key() {
  # What the builds read: manifests, lock files, cargo and auditor config, the toolchain and
  # auditor's own version. Not the commit: the same inputs share one cache entry.
  local files sum tc ver shard
  files=$(cd "$WORKSPACE" && find "$CRATE" -path '*/target' -prune -o \( -name Cargo.toml -o -name Cargo.lock \
          -o -name auditor.toml -o -name config.toml -o -name rust-toolchain.toml -o -name rust-toolchain \) -print \
          2>/dev/null | LC_ALL=C sort)
  sum=$(cd "$WORKSPACE" && { echo "$files"; for f in $files; do cat "$f"; done; } | sha256sum | cut -c1-16)
  tc=$( (${RUSTC:-rustc} --version 2>/dev/null || echo none) | sha256sum | cut -c1-8)
  ver=$("$(auditor_bin)" --version 2>/dev/null | awk '{print $NF}')
  shard=${AUDITOR_SHARD:-all}
  output cache-key "auditor-${RUNNER_OS:-linux}-${ver}-${tc}-${shard//\//of}-${sum}"
  output cache-restore-key "auditor-${RUNNER_OS:-linux}-${ver}-${tc}-${shard//\//of}-"
  output cache-dir "$CACHE"
}

scan_args() {
  local -n _args=$1
  _args=(--cache-dir "$CACHE")
  [ -z "${AUDITOR_PROFILES:-}" ] || _args+=(--profiles "$AUDITOR_PROFILES")
  [ -z "${AUDITOR_ALLOCATORS:-}" ] || _args+=(--allocators "$AUDITOR_ALLOCATORS")
  [ -z "${AUDITOR_SHARD:-}" ] || _args+=(--shard "$AUDITOR_SHARD")
}

# auditor's exit 1 is findings or a failed variant: still a report; the gate decides.
run_scan() { # crate json sarif
  local args auditor rc=0
  scan_args args
  auditor=$(auditor_bin)
  "$auditor" scan "$1" "${args[@]}" --format json -o "$2" || rc=$?
  [ "$rc" -le 1 ] || die "auditor scan $1 failed (exit $rc)"
  if [ -n "${3:-}" ]; then  # the same scan again from the cache: only the format differs
    rc=0
    "$auditor" scan "$1" "${args[@]}" --format sarif -o "$3" || rc=$?
    [ "$rc" -le 1 ] || die "auditor scan $1 --format sarif failed (exit $rc)"
  fi
}

cmd_scan() {
  mkdir -p "$OUT"
  cd "$WORKSPACE"
  run_scan "$CRATE" "$OUT/report.json" "$OUT/auditor.sarif"
  output report "$OUT/report.json"
  output sarif "$OUT/auditor.sarif"
  local base=""
  case "$BASELINE" in
    none|"") ;;
    auto)
      local sha
      sha=$(base_sha)
      if [ -n "$sha" ]; then
        say "baseline: the pull request's base commit $sha"
        git fetch -q --depth 1 origin "$sha" >&2 || die "cannot fetch the base commit $sha"
        rm -rf "$RUNNER_TEMP/auditor-base"
        git worktree add -q --detach "$RUNNER_TEMP/auditor-base" "$sha" >&2
        run_scan "$RUNNER_TEMP/auditor-base/$CRATE" "$OUT/baseline.json" ""
        git worktree remove --force "$RUNNER_TEMP/auditor-base" >&2 || true
        base="$OUT/baseline.json"
      fi ;;
    *) [ -f "$BASELINE" ] || die "baseline report not found: $BASELINE"
       base=$BASELINE ;;
  esac
  output baseline "$base"
}

cmd_gate() {
  cd "$WORKSPACE"
  local auditor args=() status=0 crate_dir
  auditor=$(auditor_bin)
  crate_dir=$CRATE
  local base=${AUDITOR_BASELINE_FILE:-}
  [ -n "$base" ] || { [ -f "$OUT/baseline.json" ] && base="$OUT/baseline.json"; } || true
  if [ -n "$base" ]; then args+=(--baseline "$base" --max-increase "${AUDITOR_MAX_INCREASE:-5%}"); fi
  # annotations (at most 10 per level) + the job summary; then the comment and the record
  "$auditor" check "$OUT/report.json" --crate "$crate_dir" "${args[@]}" --if-configured --format github || status=$?
  [ "$status" -le 1 ] || die "auditor check failed (exit $status)"
  "$auditor" check "$OUT/report.json" --crate "$crate_dir" "${args[@]}" --if-configured --format markdown \
    -o "$OUT/comment.md" || true
  "$auditor" check "$OUT/report.json" --crate "$crate_dir" "${args[@]}" --if-configured --format json \
    -o "$OUT/check.json" || true
  output status "$status"
}

cmd_prune() {
  # Keep the variant entries a report of this run points at; drop the rest.
  [ -d "$CACHE/variants" ] || return 0
  "$(python_bin)" - "$CACHE" "$OUT"/*.json <<'PY'
import json, pathlib, shutil, sys
cache = pathlib.Path(sys.argv[1]).resolve()
keep = set()
for report in sys.argv[2:]:
    try:
        doc = json.loads(pathlib.Path(report).read_text())
    except (OSError, ValueError):
        continue
    for v in doc.get("variants", []) if isinstance(doc, dict) else []:
        for key in ("wasm_path", "probes_path"):
            if isinstance(v, dict) and v.get(key):
                keep.add(pathlib.Path(v[key]).resolve().parent)
removed = 0
for entry in sorted((cache / "variants").glob("*/*")):
    if entry.is_dir() and entry.resolve() not in keep:
        shutil.rmtree(entry)
        removed += 1
print(f"auditor-action: cache: kept {len(keep)} variant entries, removed {removed}", file=sys.stderr)
PY
}

cmd_comment() {
  local sha
  sha=$(base_sha)
  [ -n "$sha" ] || { say "not a pull request: no comment"; return 0; }
  [ -f "$OUT/comment.md" ] || die "no comment.md (run the gate step first)"
  [ -n "${AUDITOR_TOKEN:-}" ] || { say "no token: the report is in the job summary only"; return 0; }
  "$(python_bin)" - "$OUT/comment.md" "$MARKER" <<'PY'
import json, os, sys, urllib.request
body = open(sys.argv[1], encoding="utf-8").read()
marker = sys.argv[2]
api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
repo = os.environ["GITHUB_REPOSITORY"]
event = json.load(open(os.environ["GITHUB_EVENT_PATH"]))
number = event["pull_request"]["number"]
headers = {"Authorization": f"Bearer {os.environ['AUDITOR_TOKEN']}", "Accept": "application/vnd.github+json",
           "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "auditor-action"}

def call(method, url, data=None):
    req = urllib.request.Request(url, method=method, headers=headers,
                                 data=None if data is None else json.dumps(data).encode())
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")

mine, page = None, 1
while mine is None:
    comments = call("GET", f"{api}/repos/{repo}/issues/{number}/comments?per_page=100&page={page}")
    mine = next((c for c in comments if marker in (c.get("body") or "")), None)
    if len(comments) < 100:
        break
    page += 1
try:
    if mine:
        call("PATCH", f"{api}/repos/{repo}/issues/comments/{mine['id']}", {"body": body})
        print(f"auditor-action: updated comment {mine['id']}", file=sys.stderr)
    else:
        made = call("POST", f"{api}/repos/{repo}/issues/{number}/comments", {"body": body})
        print(f"auditor-action: posted comment {made['id']}", file=sys.stderr)
except urllib.error.HTTPError as e:  # a fork's read-only token: the job summary has the report
    print(f"auditor-action: cannot write the PR comment ({e.code}); the report is in the job summary",
          file=sys.stderr)
PY
}

cmd_outputs() {
  local line
  "$(python_bin)" - "$OUT/report.json" "$OUT/check.json" > "$OUT/outputs.txt" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
try:
    check = json.load(open(sys.argv[2]))
except OSError:
    check = None
rec = report.get("recommended") or {}
print(f"recommended={rec.get('variant', '')}")
default = (check or {}).get("default_variant") or report.get("baseline_variant") or ""
shipped = next((v for v in report.get("variants", []) if v.get("id") == default and v.get("wasm")), None)
print(f"shipped-variant={default}")
print(f"shipped-bytes={shipped['wasm']['bytes'] if shipped else ''}")
if check is None:
    verdict = "none"
elif not check.get("budgets"):
    verdict = "no-budgets"
else:
    verdict = "pass" if check.get("passed") else "fail"
print(f"verdict={verdict}")
PY
  while IFS= read -r line; do output "${line%%=*}" "${line#*=}"; done < "$OUT/outputs.txt"
}

case "${1:-}" in
  install) cmd_install ;;
  toolchain) cmd_toolchain ;;
  cache-key) cmd_cache_key ;;
  scan) cmd_scan ;;
  gate) cmd_gate ;;
  prune) cmd_prune ;;
  comment) cmd_comment ;;
  outputs) cmd_outputs ;;
  *) die "usage: github-action.sh install|toolchain|cache-key|scan|gate|prune|comment|outputs" ;;
esac
