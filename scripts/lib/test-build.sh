# Sourced by the test steps that need a binary of the workspace: the one build the test command's Rust tests
# make, `cargo test --workspace --all-targets --locked --no-run`, so a step after them builds nothing. A
# narrower command (`-p <package>`, `--test <name>`, `cargo run -p ...`) selects other packages and targets,
# so cargo unifies other features and compiles dozens of dependencies a second time (wasmtime's among them
# when the server is in it); see scripts/run.sh.

# test_build_executable <test target>: builds (or finds built) the workspace's tests and prints the path of
# the test binary of that integration test. Build output goes to stderr.
test_build_executable() {
    cargo test --workspace --all-targets --locked --no-run --message-format=json-render-diagnostics |
        python3 -c '
import json, sys
name = sys.argv[1]
found = [m["executable"] for m in map(json.loads, sys.stdin)
         if m.get("reason") == "compiler-artifact" and m["target"]["name"] == name
         and m["target"]["kind"] == ["test"] and m.get("executable")]
if len(found) != 1:
    sys.exit(f"test_build_executable: {len(found)} test binaries named {name}")
print(found[0])' "$1"
}
