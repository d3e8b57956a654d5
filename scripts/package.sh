#!/usr/bin/env bash
# Builds the `handler` binary and stages the deployable function app:
#
#   dist/functionapp/
#     host.json  .funcignore  local.settings.json  handler (+x)
#     sync-timer/function.json  tenant-worker/function.json  ...
#
# ready for `func azure functionapp publish <app>` from inside it. The staged
# local.settings.json holds only FUNCTIONS_WORKER_RUNTIME=custom (no
# secrets): Core Tools reads the worker runtime from it, and without it (or
# --custom) publish stops with "Worker runtime is not set". .funcignore keeps
# it out of the published zip.
#
# Usage: scripts/package.sh [--musl] [--debug] [--out DIR] [--binary PATH]
#        scripts/package.sh --install-tools
#   (default)  release build for x86_64-unknown-linux-gnu linked against
#              glibc 2.28 with cargo-zigbuild and zig, so the binary runs on
#              every Functions Linux image (Debian 11's glibc is 2.31); the
#              script fails if the binary needs a newer GLIBC_ symbol. Needs
#              cargo-zigbuild and zig (PyPI packages; see --install-tools).
#   --musl     static build for x86_64-unknown-linux-musl (no glibc at all).
#              Needs the rustup target and Debian's musl-tools; the script
#              says what to install when they are missing.
#   --debug    dev profile (fast), not for Azure
#   --out DIR  stage into DIR instead of dist/functionapp
#   --binary PATH  stage this already-built handler instead of building one
#              (the packaging test passes the binary cargo test built)
#   --install-tools  install the pinned ziglang and cargo-zigbuild from PyPI
#              into a venv at .tools/zigbuild (used by the default build when
#              they are not on PATH), then exit. scripts/test runs this.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
CARGO="${CARGO:-cargo}"
MUSL_TARGET="x86_64-unknown-linux-musl"
# The default build: glibc x86-64, linked against glibc 2.28 by zig.
GNU_TARGET="x86_64-unknown-linux-gnu"
GLIBC_MAX="2.28"
ZIGBUILD_VENV="$ROOT/.tools/zigbuild"
ZIGBUILD_PINS="ziglang==0.15.2 cargo-zigbuild==0.24.1"

musl=0
profile="release"
out="$ROOT/dist/functionapp"
prebuilt=""
install_tools=0
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
    --install-tools) install_tools=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "package.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '==> %s\n' "$*"; }

if [ "$install_tools" = 1 ]; then
  stamp="$ZIGBUILD_VENV/.pins"
  if [ -x "$ZIGBUILD_VENV/bin/cargo-zigbuild" ] \
     && [ "$(cat "$stamp" 2>/dev/null || true)" = "$ZIGBUILD_PINS" ]; then
    say "cargo-zigbuild and zig already in ${ZIGBUILD_VENV#"$ROOT"/} ($ZIGBUILD_PINS)"
    exit 0
  fi
  command -v python3 >/dev/null 2>&1 \
    || { echo "package.sh: --install-tools needs python3 with venv (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
  say "installing $ZIGBUILD_PINS (PyPI) into ${ZIGBUILD_VENV#"$ROOT"/}"
  mkdir -p "$(dirname "$ZIGBUILD_VENV")"
  python3 -m venv "$ZIGBUILD_VENV" \
    || { echo "package.sh: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  # shellcheck disable=SC2086 # the pins are separate words
  "$ZIGBUILD_VENV/bin/python" -m pip install --quiet --disable-pip-version-check $ZIGBUILD_PINS
  echo "$ZIGBUILD_PINS" > "$stamp"
  exit 0
fi

if [ "$(uname -m)" != "x86_64" ] && [ "$musl" = 0 ] && [ -z "$prebuilt" ]; then
  echo "package.sh: this machine is $(uname -m); the default build is for Linux x86-64. Use --musl with the $MUSL_TARGET target." >&2
  exit 1
fi

build_cmd=(build)
build_target=""
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
  if [ -n "$missing" ] && [ -z "$prebuilt" ]; then
    echo "package.sh: --musl needs:$missing
Install them, or run without --musl for the glibc $GLIBC_MAX build." >&2
    exit 1
  fi
  export CC_x86_64_unknown_linux_musl=musl-gcc
  build_target="$MUSL_TARGET"
  target_subdir="$MUSL_TARGET/"
else
  # The venv that --install-tools makes, when the tools are not on PATH.
  if [ -x "$ZIGBUILD_VENV/bin/cargo-zigbuild" ]; then
    export PATH="$ZIGBUILD_VENV/bin:$PATH"
  fi
  if [ -z "$prebuilt" ]; then
    missing=""
    command -v cargo-zigbuild >/dev/null 2>&1 || missing="${missing}
  - cargo-zigbuild (PyPI: cargo-zigbuild)"
    # cargo-zigbuild runs `zig`, or `python3 -m ziglang` (the PyPI package).
    if ! command -v zig >/dev/null 2>&1 && ! python3 -m ziglang version >/dev/null 2>&1; then
      missing="${missing}
  - zig (PyPI: ziglang)"
    fi
    if [ -n "$missing" ]; then
      echo "package.sh: the default build (glibc $GLIBC_MAX) needs:$missing
Install both with: scripts/package.sh --install-tools   (a venv in .tools/zigbuild: $ZIGBUILD_PINS)
or use --musl for a static build." >&2
      exit 1
    fi
  fi
  build_cmd=(zigbuild)
  build_target="$GNU_TARGET.$GLIBC_MAX"
  target_subdir="$GNU_TARGET/"
fi

if [ -n "$prebuilt" ]; then
  binary="$prebuilt"
  [ -x "$binary" ] || { echo "package.sh: --binary $binary is not an executable file" >&2; exit 1; }
else
  build_args=("${build_cmd[@]}" --target "$build_target" --locked --no-default-features --bin handler)
  [ "$profile" = "release" ] && build_args+=(--release)
  say "cargo ${build_args[*]}"
  started=$SECONDS
  "$CARGO" "${build_args[@]}"
  say "built in $((SECONDS - started)) s"

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
grep -qx 'local.settings.json' "$out/.funcignore" \
  || { echo "package.sh: .funcignore must list local.settings.json (the staged one must stay out of the published zip)" >&2; exit 1; }
# Tells Core Tools the worker runtime (publish); never deployed (.funcignore).
printf '%s\n' '{"IsEncrypted": false, "Values": {"FUNCTIONS_WORKER_RUNTIME": "custom"}}' \
  > "$out/local.settings.json"
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

kind="$profile"
if [ -n "$prebuilt" ]; then kind="prebuilt"
elif [ "$musl" = 1 ]; then kind="$kind, static musl"
else kind="$kind, glibc $GLIBC_MAX"; fi
say "staged $count functions + handler ($(du -h "$out/handler" | cut -f1), $kind) + local.settings.json (worker runtime only)"

# The newest glibc symbol version the staged binary needs.
if [ "$musl" = 0 ] || [ -n "$prebuilt" ]; then
  if command -v objdump >/dev/null 2>&1; then
    glibc="$(objdump -T "$out/handler" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sort -uV | tail -1 || true)"
    need="${glibc#GLIBC_}"
    if [ -n "$need" ]; then
      newest="$(printf '%s\n%s\n' "$need" "$GLIBC_MAX" | sort -V | tail -1)"
      if [ "$newest" != "$GLIBC_MAX" ]; then
        if [ -z "$prebuilt" ] && [ "$musl" = 0 ]; then
          echo "package.sh: the built handler needs glibc $need, newer than $GLIBC_MAX (objdump -T $out/handler)" >&2
          exit 1
        fi
        say "warning: this handler needs glibc >= $need; the Debian 11 Functions images have 2.31"
      else
        say "the handler needs glibc >= $need (the limit is $GLIBC_MAX)"
      fi
    fi
  elif [ -z "$prebuilt" ]; then
    say "objdump not found (Debian: apt-get install binutils): the glibc version the handler needs was not checked"
  fi
fi
say "publish with: (cd \"$out\" && func azure functionapp publish <app-name>)"
