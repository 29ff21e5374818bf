#!/usr/bin/env bash
# The module boundaries that keep one owner per thread and a UI that only
# draws (issue 14); ci/check.sh fails the build when one is crossed:
# - no `store` under app/src/ui/: the window gets view types
#   (messages::history), and the store worker owns the redb file;
# - no egui outside app/src/ui/ and the App (app/src/desktop.rs);
# - app/src/config/ is a leaf: settings are read by everyone and use
#   nothing of the store, the integrations, the core or the UI;
# - no thread started outside app/src/runtime/thread.rs: clippy's
#   `disallowed_methods` (clippy.toml) checks that in the clippy build; the
#   grep here says the same for a quick look without a build.
# Comment lines are skipped (docs may name what they do not use).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
src=${1:-app/src}
failed=0

# Lines of the given files matching a pattern, comments left out.
code_matches() {
  local pattern=$1
  shift
  grep -rnE "$pattern" "$@" --include='*.rs' | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//'
}

crossed() {
  echo "boundaries: $1" >&2
  printf '  %s\n' "${2//$'\n'/$'\n'  }" >&2
  failed=1
}

if hits=$(code_matches '(crate::store|\bstore::)' "$src/ui"); then
  crossed "the UI uses store types; give it view types from messages::history" "$hits"
fi

if hits=$(code_matches '\begui(_[a-z]+)?::' "$src" | grep -vE "^$src/(ui/|desktop\.rs:)"); then
  crossed "egui outside ui/ and the App (desktop.rs)" "$hits"
fi

if hits=$(code_matches 'crate::(store|integrations|core|ui|runtime|desktop)\b' "$src/config"); then
  crossed "config uses a module above it; it must stay a leaf that everyone reads" "$hits"
fi

if hits=$(code_matches 'std::thread::(spawn|Builder)' "$src" | grep -vE "^$src/runtime/thread\.rs:"); then
  crossed "a thread started outside runtime::thread::spawn" "$hits"
fi

if [ "$failed" -eq 0 ]; then
  echo "boundaries: ok (ui without store, egui in ui/ and the App, config a leaf, threads from runtime::thread)"
fi
exit "$failed"
