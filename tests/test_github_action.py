"""action.yml (the drop-in GitHub Action) and scripts/github-action.sh.

The action's YAML is validated against the GitHub Actions metadata schema (SchemaStore's,
as vendored in the check-jsonschema wheel) and checked for consistency (inputs, step ids,
outputs, script subcommands). The script's steps run with a fake GITHUB_* environment and
a PATH made here from a few named tools: nothing it runs can reach the machine's rustup
(a fake rustup records what it was asked), and the PR comment goes to a fake API on
127.0.0.1.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
import yaml

from auditor.report.markdown_blocks import MARKER

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "github-action.sh"
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())

# The tools the script may run, found once and linked into a private bin directory.
TOOLS = ["bash", "sh", "env", "cat", "cut", "sort", "find", "awk", "sha256sum", "mkdir", "rm", "dirname",
         "git", "ls", "tr", "head", "tail", "sed", "grep", "mktemp", "chmod", "cp", "mv", "uname", "wc",
         "rust-lld", "lld", "wasm-ld"]  # the linkers rustc runs (CARGO and RUSTC are absolute paths)


def schema(name: str) -> dict:
    # resolved here, not at import: the package's __init__ imports its CLI (~0.1 s in
    # every xdist worker, which all import every test module)
    return json.loads(files("check_jsonschema.builtin_schemas.vendor").joinpath(name).read_text())


def test_action_yaml_matches_the_actions_schema():
    errors = [e.message for e in jsonschema.Draft7Validator(schema("github-actions.json")).iter_errors(ACTION)]
    assert errors == []
    assert ACTION["runs"]["using"] == "composite"
    # the schema catches a broken action: a step without shell, an unknown `using`
    bad = json.loads(json.dumps(ACTION))
    del bad["runs"]["steps"][0]["shell"]
    assert list(jsonschema.Draft7Validator(schema("github-actions.json")).iter_errors(bad))


def test_action_is_consistent_with_its_script():
    steps = ACTION["runs"]["steps"]
    text = (ROOT / "action.yml").read_text()
    ids = {s["id"] for s in steps if "id" in s}
    for ref in re.findall(r"steps\.([a-z-]+)\.outputs", text):
        assert ref in ids, ref
    for ref in re.findall(r"inputs\.([a-z-]+)", text):
        assert ref in ACTION["inputs"], ref
    subcommands = set(re.findall(r"^  ([a-z-]+)\) cmd_", SCRIPT.read_text(), re.M))
    used = [m for s in steps if "run" in s for m in re.findall(r'github-action\.sh" ([a-z-]+)', s["run"])]
    assert set(used) <= subcommands and {"install", "scan", "gate", "comment", "outputs"} <= set(used)
    # installs from its own checkout, not a package index
    install = next(s for s in steps if "install" in s.get("run", ""))
    assert install["env"]["AUDITOR_ACTION_PATH"] == "${{ github.action_path }}"
    assert 'pip install -q --disable-pip-version-check "$ACTION_PATH"' in SCRIPT.read_text()
    # SARIF uploaded with a category; the cache saved only under a key the script made
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert upload["with"]["category"] == "${{ inputs.sarif-category }}"
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save"))
    assert save["with"]["key"] == "${{ steps.key.outputs.cache-key }}" and "github.sha" not in text
    names = [s.get("name", "") for s in steps]
    assert names.index("Prune the cache to what this run used") < names.index("Save auditor's cache")
    assert set(ACTION["outputs"]) >= {"recommended", "shipped-bytes", "verdict"}


def test_readme_usage_example_uses_real_inputs():
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("<!-- action-usage -->"):]
    block = block[block.index("```yaml") + 7:block.index("```", block.index("```yaml") + 7)]
    steps = yaml.safe_load(block)
    [use] = [s for s in steps if "uses" in s and s["uses"].startswith("wasm-auditor/auditor@")]
    assert set(use.get("with", {})) <= set(ACTION["inputs"])
    assert len([l for l in block.strip().splitlines() if l.strip()]) <= 6
    for name in ACTION["inputs"]:
        assert f"`{name}`" in readme, name


# --------------------------------------------------------------------------- running the script


def private_path(tmp: Path) -> tuple[Path, str]:
    """A bin directory with fakes first and links to the named tools: PATH is nothing else."""
    fake = tmp / "fakebin"
    tools = tmp / "tools"
    fake.mkdir()
    tools.mkdir()
    for t in TOOLS:
        real = shutil.which(t, path="/usr/bin:/bin")
        assert real, t
        (tools / t).symlink_to(real)
    return fake, f"{fake}:{tools}"


def write_exe(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def fake_venv(tmp: Path) -> Path:
    """What the install step makes, pointing at this checkout's auditor (no pip, no network)."""
    venv = tmp / "venv"
    (venv / "bin").mkdir(parents=True)
    write_exe(venv / "bin" / "python", f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    write_exe(venv / "bin" / "auditor", f'#!/bin/sh\nexec {sys.executable} -m auditor "$@"\n')
    return venv


def action(step: str, env: dict, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", str(SCRIPT), step], env=env, cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600)


def outputs(path: Path) -> dict[str, str]:
    return dict(l.split("=", 1) for l in path.read_text().splitlines() if "=" in l)


def test_path_isolation_hides_the_machines_rustup(tmp_path):
    _, path = private_path(tmp_path)
    assert shutil.which("rustup", path=path) is None and shutil.which("rustc", path=path) is None
    assert shutil.which("cargo", path=path) is None


def test_toolchain_step_adds_the_target_only_through_rustup(tmp_path):
    fake, path = private_path(tmp_path)
    sysroot = tmp_path / "sysroot"
    (sysroot / "lib" / "rustlib").mkdir(parents=True)
    log = tmp_path / "rustup.log"
    write_exe(fake / "rustc", f'#!/bin/sh\n[ "$1" = --print ] && echo {sysroot} && exit 0\necho "rustc 1.90.0 (fake)"\n')
    env = {"PATH": path, "RUNNER_TEMP": str(tmp_path), "HOME": str(tmp_path)}
    # no rustup: a clear error, exit 2
    r = action("toolchain", env)
    assert r.returncode == 2 and "no Rust toolchain with the wasm32 target" in r.stderr
    # a fake rustup: asked to add the target (it "installs" it into the fake sysroot)
    write_exe(fake / "rustup", f'#!/bin/sh\necho "$@" >> {log}\nmkdir -p {sysroot}/lib/rustlib/$3\n')
    r = action("toolchain", env)
    assert r.returncode == 0, r.stderr
    assert log.read_text() == "target add wasm32-unknown-unknown\n"
    # already there: rustup is not called again
    r = action("toolchain", env)
    assert r.returncode == 0 and log.read_text().count("target add") == 1 and "rustc 1.90.0" in r.stderr


def test_install_step_installs_the_action_checkout(tmp_path):
    fake, path = private_path(tmp_path)
    log = tmp_path / "pip.log"
    # a fake interpreter: `-m venv DIR` makes DIR/bin/python (logging), version check passes
    write_exe(fake / "python3", f"""#!/bin/bash
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/bash\\necho "$@" >> {log}\\n' > "$3/bin/python"; chmod +x "$3/bin/python"
  printf '#!/bin/sh\\necho "auditor 0.1.0"\\n' > "$3/bin/auditor"; chmod +x "$3/bin/auditor"
fi
exit 0
""")
    gh_path = tmp_path / "github_path"
    env = {"PATH": path, "RUNNER_TEMP": str(tmp_path), "AUDITOR_ACTION_PATH": "/the/action",
           "GITHUB_PATH": str(gh_path), "GITHUB_OUTPUT": str(tmp_path / "out")}
    r = action("install", env)
    assert r.returncode == 0, r.stderr
    assert log.read_text() == "-m pip install -q --disable-pip-version-check /the/action\n"
    assert gh_path.read_text() == f"{tmp_path}/auditor-venv/bin\n"
    assert outputs(tmp_path / "out")["python"] == f"{tmp_path}/auditor-venv/bin/python"


class FakeGitHub(BaseHTTPRequestHandler):
    """The issues-comments API: records every request, answers from `comments`."""

    comments: list[dict] = []
    seen: list[tuple[str, str, dict | None]] = []

    def _reply(self, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else None

    def do_GET(self):  # noqa: N802
        FakeGitHub.seen.append(("GET", self.path, None))
        self._reply(FakeGitHub.comments)

    def do_POST(self):  # noqa: N802
        FakeGitHub.seen.append(("POST", self.path, self._body()))
        self._reply({"id": 99})

    def do_PATCH(self):  # noqa: N802
        FakeGitHub.seen.append(("PATCH", self.path, self._body()))
        self._reply({"id": 5})

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeGitHub.comments, FakeGitHub.seen = [], []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def git(repo: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(repo.parent), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.cargo
def test_pull_request_run_scans_base_gates_comments_and_prunes(tmp_path, fake_api):
    """A pull request whose head grew: both commits scanned (the base through a worktree),
    the gate fails on the growth, one comment posted then updated, outputs written, and
    the cache pruned to the entries this run used."""
    from fixturelib import scan_env

    fake, path = private_path(tmp_path)
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "fixtures" / "crates" / "minimal", repo / "crate", ignore=shutil.ignore_patterns("target"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD")
    lib = repo / "crate" / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\n#[no_mangle]\npub extern \"C\" fn grown(x: u32) -> u32 {\n"
                   "    let mut v = x;\n    for i in 0..x { v = v.wrapping_mul(31).wrapping_add(i ^ (v >> 3)); }\n"
                   "    v\n}\n")
    (repo / "crate" / "auditor.toml").write_text(
        '[scan]\ndefault-variant = "release/default"\n\n[[budget]]\nname = "module"\nvariant = "release/default"\n'
        'raw = "10 MiB"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "head")
    git(repo, "remote", "add", "origin", str(repo))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "base": {"sha": base}}}))
    cache = tmp_path / "cache"
    stale = cache / "variants" / "ab" / ("ab" + "0" * 62)
    stale.mkdir(parents=True)
    (stale / "record.json").write_text("{}")
    venv = fake_venv(tmp_path)
    toolchain_env = {k: v for k, v in scan_env().items() if k in ("CARGO", "RUSTC", "RUSTFLAGS")
                     or k.startswith("CARGO_") or k.startswith("AUDITOR_")}
    env = {**toolchain_env, "PATH": path, "HOME": str(tmp_path), "RUNNER_TEMP": str(tmp_path / "runner"),
           "AUDITOR_VENV": str(venv), "AUDITOR_CACHE_DIR": str(cache), "AUDITOR_CRATE": "crate",
           "AUDITOR_PROFILES": "release", "AUDITOR_ALLOCATORS": "default", "AUDITOR_BASELINE": "auto",
           "AUDITOR_MAX_INCREASE": "16 B", "AUDITOR_TOKEN": "t0ken", "XDG_CACHE_HOME": str(tmp_path / "xdg"),
           "GITHUB_WORKSPACE": str(repo), "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event),
           "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": fake_api, "GITHUB_OUTPUT": str(tmp_path / "out"),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    (tmp_path / "runner").mkdir()
    assert shutil.which("rustup", path=path) is None

    r = action("cache-key", env)
    assert r.returncode == 0, r.stderr
    key = outputs(tmp_path / "out")["cache-key"]
    assert re.fullmatch(r"auditor-linux-0\.1\.0-[0-9a-f]{8}-all-[0-9a-f]{16}", key), key
    assert action("cache-key", env).returncode == 0 and outputs(tmp_path / "out")["cache-key"] == key  # stable

    r = action("scan", env)
    assert r.returncode == 0, r.stderr
    out = outputs(tmp_path / "out")
    report = json.loads(Path(out["report"]).read_text())
    baseline = json.loads(Path(out["baseline"]).read_text())
    assert "grown" in [e["name"] for e in report["variants"][0]["wasm"]["exports"]]
    assert "grown" not in [e["name"] for e in baseline["variants"][0]["wasm"]["exports"]]
    sarif = json.loads(Path(out["sarif"]).read_text())
    assert sarif["runs"][0]["automationDetails"]["id"] == "auditor-scan/minimal/"
    assert git(repo, "worktree", "list").count("\n") == 0  # the base worktree is gone

    r = action("gate", env)
    assert r.returncode == 0, r.stderr  # the verdict is an output; the action's last step fails
    assert outputs(tmp_path / "out")["status"] == "1"
    assert "::error file=crate/auditor.toml" in r.stdout and "over the baseline" in r.stdout
    assert (tmp_path / "summary.md").read_text().startswith(MARKER)

    r = action("outputs", env)
    assert r.returncode == 0, r.stderr
    o = outputs(tmp_path / "out")
    assert o["verdict"] == "fail" and o["shipped-variant"] == "release/default"
    assert int(o["shipped-bytes"]) == Path(report["variants"][0]["wasm_path"]).stat().st_size  # the file itself
    assert o["recommended"] == report["recommended"]["variant"]

    r = action("comment", env)
    assert r.returncode == 0, r.stderr
    assert [(m, p) for m, p, _ in FakeGitHub.seen] == [
        ("GET", "/repos/o/r/issues/7/comments?per_page=100&page=1"), ("POST", "/repos/o/r/issues/7/comments")]
    assert FakeGitHub.seen[1][2]["body"].startswith(MARKER + "\n## ❌ size budgets failed")
    FakeGitHub.comments, FakeGitHub.seen = [{"id": 5, "body": "other"}, {"id": 6, "body": MARKER + "\nold"}], []
    assert action("comment", env).returncode == 0
    assert [(m, p) for m, p, _ in FakeGitHub.seen] == [
        ("GET", "/repos/o/r/issues/7/comments?per_page=100&page=1"), ("PATCH", "/repos/o/r/issues/comments/6")]

    used = {Path(v["wasm_path"]).parent.name for doc in (report, baseline) for v in doc["variants"]}
    before = {p.name for p in cache.glob("variants/*/*")}
    assert stale.name in before and used <= before
    r = action("prune", env)
    assert r.returncode == 0, r.stderr
    assert {p.name for p in cache.glob("variants/*/*")} == used


def test_no_budget_on_push_is_a_notice_not_a_failure(tmp_path):
    """A push to main of a crate without [[budget]]: the gate passes with a notice."""
    fake, path = private_path(tmp_path)
    out = tmp_path / "runner" / "auditor"
    out.mkdir(parents=True)
    shutil.copy(ROOT / "fixtures" / "reports" / "scan-v2.json", out / "report.json")
    (tmp_path / "crate").mkdir()
    venv = fake_venv(tmp_path)
    env = {"PATH": path, "HOME": str(tmp_path), "RUNNER_TEMP": str(tmp_path / "runner"), "AUDITOR_VENV": str(venv),
           "AUDITOR_CRATE": "crate", "GITHUB_WORKSPACE": str(tmp_path), "GITHUB_EVENT_NAME": "push",
           "GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    r = action("gate", env)
    assert r.returncode == 0, r.stderr
    assert outputs(tmp_path / "out")["status"] == "0"
    assert "::notice title=auditor check::no [[budget]] tables" in r.stdout
    assert "## ℹ️ no size budgets configured" in (tmp_path / "summary.md").read_text()
    assert action("outputs", env).returncode == 0
    assert outputs(tmp_path / "out")["verdict"] == "no-budgets"
    r = action("comment", env)
    assert r.returncode == 0 and "not a pull request" in r.stderr
