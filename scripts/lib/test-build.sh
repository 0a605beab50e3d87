# Sourced by the test steps that need a binary of the workspace: the one build the test command's Rust tests
# make, `cargo test --workspace --all-targets --locked --no-run`, so a step after them builds nothing. A
# narrower command (`-p <package>`, `--test <name>`, `cargo run -p ...`) selects other packages and targets,
# so cargo unifies other features and compiles dozens of dependencies a second time (wasmtime's among them
# when the server is in it); see scripts/run.sh.

# test_build_file <target> <test|build> [suffix]: builds (or finds built) the workspace's tests and prints
# the one file of target <target> (a crate's lib, bin or test name) made in that mode: the executable, or
# the file whose name ends in <suffix> (e.g. `.so` for a cdylib). Build output goes to stderr.
test_build_file() {
    cargo test --workspace --all-targets --locked --no-run --message-format=json-render-diagnostics |
        python3 -c '
import json, sys
name, mode, suffix = sys.argv[1], sys.argv[2], sys.argv[3]
found = set()
for m in map(json.loads, sys.stdin):
    if m.get("reason") != "compiler-artifact" or m["target"]["name"] != name:
        continue
    if m["profile"]["test"] != (mode == "test"):
        continue
    if suffix:
        found.update(f for f in m["filenames"] if f.endswith(suffix))
    elif m.get("executable"):
        found.add(m["executable"])
if len(found) != 1:
    sys.exit(f"test_build_file: {len(found)} files for {name} ({mode}) {suffix}: {sorted(found)}")
print(found.pop())' "$1" "$2" "${3:-}"
}

# test_build_executable <integration test>: the test binary of that test target.
test_build_executable() {
    test_build_file "$1" test
}
