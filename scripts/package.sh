#!/usr/bin/env bash
# Builds the `handler` binary and stages the deployable function app:
#
#   dist/functionapp/
#     host.json  .funcignore  handler (+x)
#     sync-timer/function.json  tenant-worker/function.json  ...
#
# ready for `func azure functionapp publish <app>` from inside it.
#
# Usage: scripts/package.sh [--musl] [--debug] [--out DIR] [--binary PATH]
#   (default)  release build for the host's glibc x86_64 target
#              (x86_64-unknown-linux-gnu, dynamically linked against glibc)
#   --musl     static build for x86_64-unknown-linux-musl (no glibc version
#              coupling with the Functions host image). Needs the rustup
#              target and Debian's musl-tools; the script says what to
#              install when they are missing.
#   --debug    dev profile (fast; used by the packaging test), not for Azure
#   --out DIR  stage into DIR instead of dist/functionapp
#   --binary PATH  stage this already-built handler instead of building one
#              (the packaging test passes the binary cargo test built)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
CARGO="${CARGO:-cargo}"
MUSL_TARGET="x86_64-unknown-linux-musl"

musl=0
profile="release"
out="$ROOT/dist/functionapp"
prebuilt=""
while [ $# -gt 0 ]; do
  case "$1" in
    --musl) musl=1 ;;
    --debug) profile="debug" ;;
    --out)
      [ $# -ge 2 ] || { echo "package.sh: --out needs a directory" >&2; exit 2; }
      out="$2"; shift ;;
    --binary)
      [ $# -ge 2 ] || { echo "package.sh: --binary needs a path" >&2; exit 2; }
      prebuilt="$2"; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "package.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '==> %s\n' "$*"; }

if [ "$(uname -m)" != "x86_64" ] && [ "$musl" = 0 ]; then
  echo "package.sh: this machine is $(uname -m); the Functions host needs Linux x86-64. Use --musl with the $MUSL_TARGET target." >&2
  exit 1
fi

build_args=(build --locked --no-default-features --bin handler)
[ "$profile" = "release" ] && build_args+=(--release)
target_subdir=""
if [ "$musl" = 1 ]; then
  missing=""
  if ! command -v rustup >/dev/null 2>&1 \
     || ! rustup target list --installed 2>/dev/null | grep -qx "$MUSL_TARGET"; then
    missing="${missing}
  - the Rust target: rustup target add $MUSL_TARGET"
  fi
  if ! command -v musl-gcc >/dev/null 2>&1; then
    missing="${missing}
  - a musl C toolchain for the C parts (SQLite, ring/aws-lc): apt-get install musl-tools   (Debian/Ubuntu)"
  fi
  if [ -n "$missing" ]; then
    echo "package.sh: --musl needs:$missing
Install them, or run without --musl for a glibc build." >&2
    exit 1
  fi
  export CC_x86_64_unknown_linux_musl=musl-gcc
  build_args+=(--target "$MUSL_TARGET")
  target_subdir="$MUSL_TARGET/"
fi

if [ -n "$prebuilt" ]; then
  binary="$prebuilt"
  [ -x "$binary" ] || { echo "package.sh: --binary $binary is not an executable file" >&2; exit 1; }
else
  say "cargo ${build_args[*]}"
  "$CARGO" "${build_args[@]}"

  target_dir="${CARGO_TARGET_DIR:-}"
  if [ -z "$target_dir" ]; then
    target_dir="$("$CARGO" metadata --format-version 1 --no-deps \
      | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
  fi
  binary="$target_dir/${target_subdir}${profile}/handler"
  [ -x "$binary" ] || { echo "package.sh: built binary not found at $binary" >&2; exit 1; }
fi

say "staging $out"
rm -rf "$out"
mkdir -p "$out"
cp host.json .funcignore "$out/"
count=0
for dir in functions/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/function.json" ] || continue
  mkdir -p "$out/$name"
  cp "$dir/function.json" "$out/$name/function.json"
  count=$((count + 1))
done
cp "$binary" "$out/handler"
chmod 755 "$out/handler"

say "staged $count functions + handler ($(du -h "$out/handler" | cut -f1), $profile$([ "$musl" = 1 ] && echo ", static musl"))"
if [ "$musl" = 0 ] && command -v objdump >/dev/null 2>&1; then
  glibc="$(objdump -T "$out/handler" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 || true)"
  [ -n "$glibc" ] && say "needs glibc >= ${glibc#GLIBC_} on the host image (use --musl to avoid the dependency)"
fi
say "publish with: (cd \"$out\" && func azure functionapp publish <app-name>)"
