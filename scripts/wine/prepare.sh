#!/usr/bin/env bash
# Prepares a scratch Wine prefix in which mxprobe's Windows binaries and
# Windows test binaries run on Linux (docs/wine.md):
#   - installs Debian's wine64 and gcc-mingw-w64-x86-64 when missing (root + apt);
#   - builds the bcryptprimitives.dll shim (bcryptprimitives.c) with mingw-w64;
#   - creates the prefix with `wineboot -i` and puts the shim in system32.
# Everything lands under bin/wine/ (git-ignored), and a prefix that is already
# there and matches the Wine version and the shim is reused (CI caches it).
# Prints the path of an env file that scripts/wine/exec.sh sources.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${MXPROBE_WINE_DIR:-$root/bin/wine}"
src="$root/scripts/wine"
mkdir -p "$dir"

find_wine() {
  for w in /usr/lib/wine/wine64 "$(command -v wine64 2>/dev/null || true)" "$(command -v wine 2>/dev/null || true)"; do
    if [ -n "$w" ] && [ -x "$w" ]; then echo "$w"; return 0; fi
  done
  return 1
}

need=()
find_wine >/dev/null || need+=(wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need+=(gcc-mingw-w64-x86-64)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "wine: need ${need[*]} (Debian packages) and cannot install them (not root or no apt-get)" >&2
    exit 1
  fi
  echo "wine: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
wine="$(find_wine)"
wineserver="$(dirname "$wine")/wineserver"
[ -x "$wineserver" ] || wineserver="$(command -v wineserver)"

# The shim: rebuilt when its source changes.
dll="$dir/bcryptprimitives.dll"
if [ ! -f "$dll" ] || [ "$src/bcryptprimitives.c" -nt "$dll" ] || [ "$src/bcryptprimitives.def" -nt "$dll" ]; then
  x86_64-w64-mingw32-gcc -O2 -shared -nostdlib -Wl,-e,DllMainCRTStartup -Wl,--no-insert-timestamp \
    -o "$dll.tmp" "$src/bcryptprimitives.c" "$src/bcryptprimitives.def" -ladvapi32
  mv "$dll.tmp" "$dll"
fi

# The prefix: reused when made by the same Wine with the same shim.
prefix="$dir/prefix"
stamp="$("$wine" --version 2>/dev/null) $(sha256sum "$dll" | cut -c1-16)"
export WINEPREFIX="$prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$prefix/.mxprobe-stamp" ] || [ "$(cat "$prefix/.mxprobe-stamp")" != "$stamp" ]; then
  echo "wine: creating prefix $prefix ($stamp)" >&2
  rm -rf "$prefix"
  timeout 300 "$wine" wineboot -i >/dev/null 2>&1
  "$wineserver" -w
  cp "$dll" "$prefix/drive_c/windows/system32/bcryptprimitives.dll"
  echo "$stamp" > "$prefix/.mxprobe-stamp"
fi
cat > "$dir/env" <<ENV
export WINEPREFIX='$prefix'
export WINEDEBUG=-all
export WINEDLLOVERRIDES='mscoree,mshtml='
export MXPROBE_WINE='$wine'
export MXPROBE_WINESERVER='$wineserver'
ENV
echo "$dir/env"
