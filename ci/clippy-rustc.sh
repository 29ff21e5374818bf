#!/usr/bin/env bash
# Clippy as the compiler of the workspace's own crates, so one build both
# lints them and makes the test binaries. ci/check.sh sets
# RUSTC_WORKSPACE_WRAPPER to this file: cargo then runs
# `ci/clippy-rustc.sh <rustc> <args>` for the workspace members only (the
# dependencies are compiled by plain rustc), which is the mechanism
# `cargo clippy` itself uses, except that clippy-driver here does the full
# compile instead of a metadata-only check. Why: `cargo clippy` and the test
# build each compile the whole dependency tree (check metadata and code are
# separate artifacts), and that second compile was 15 minutes of a cold CI
# run on two cores.
#
# clippy-driver drops the <rustc> argument itself; `-D warnings` makes every
# rustc and clippy warning an error, as `cargo clippy -- -D warnings` does.
# Lint levels come from [workspace.lints] in Cargo.toml as usual.
set -euo pipefail
exec "${CLIPPY_DRIVER:-clippy-driver}" "$@" -D warnings
