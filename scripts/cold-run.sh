#!/usr/bin/env bash
# Times the test command as a new machine runs it: a fresh clone of the given repository or branch, an empty
# HOME (no ~/.cache: no cargo target, npm, pip, Kotlin or fuzz caches) and an empty CARGO_HOME (no registry,
# no installed cargo tools). The rustup toolchains and the Debian packages already installed stay: this
# machine kind has them. Usage: scripts/cold-run.sh [<repository> [<workdir>]]; prints rc and seconds.
# Needs the machine to itself (two cores) for a figure worth comparing.
set -u
source_repo="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
work="${2:-$(mktemp -d)}"
real_cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
cold_home="$work/home"
mkdir -p "$cold_home/.cargo/bin"
# Only rustup's proxies: every cargo-installed tool must be installed again by the test command.
for p in cargo rustc rustup rustfmt cargo-fmt cargo-clippy clippy-driver rustdoc; do
    ln -s "$real_cargo_bin/$p" "$cold_home/.cargo/bin/$p"
done
git clone -q "$source_repo" "$work/clone"
cd "$work/clone" || exit 1
export HOME="$cold_home" CARGO_HOME="$cold_home/.cargo" CI=true
PATH="$cold_home/.cargo/bin:$(echo "$PATH" | tr ':' '\n' | grep -vxF "$real_cargo_bin" | paste -sd:)"
export PATH
unset CARGO_TARGET_DIR MICROPOWER_GUEST_TARGET_DIR
start=$(date +%s)
bash .ci/run </dev/null
rc=$?
echo "cold run: rc=$rc, $(($(date +%s) - start)) s; remove $work when done"
exit "$rc"
