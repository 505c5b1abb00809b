#!/bin/sh
# `npm run device-check -- --out DIR [--quick]`: the whole check of a GPU machine in one command
# (bench/deviceCheck.ts does the work; docs/real-gpu.md says what it measures).
#
# A bare GPU machine may lack the Vulkan loader (libvulkan.so.1) and libglvnd's libGLdispatch.so.0,
# which NVIDIA's Vulkan driver (libGLX_nvidia.so.0) needs; without them Dawn finds no adapter. Their
# Debian 12 packages travel with the repository (bench/device-check/debs, about 170 KB). When the
# dynamic linker cannot find a library, its package is unpacked into a folder of our own and that
# folder goes on LD_LIBRARY_PATH: no root, no package manager, nothing written outside the folder.
# The environment has to be right before Node starts (Dawn loads the loader at its first use), hence
# a shell script in front of the TypeScript.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
prefix=${DITTO_VULKAN_PREFIX:-${TMPDIR:-/tmp}/ditto-vulkan-loader}

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}/ditto-xdg}"
mkdir -p "$XDG_RUNTIME_DIR"

# Unpacks one .deb into $prefix: dpkg-deb where there is one, else Python's ar + tar readers.
unpack() {
  if command -v dpkg-deb >/dev/null 2>&1; then
    dpkg-deb -x "$1" "$prefix"
  else
    python3 - "$1" "$prefix" <<'PY'
import io, sys, tarfile
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'!<arch>\n', 'not a .deb (ar) archive'
pos = 8
while pos < len(data):
    name = data[pos:pos + 16].decode().strip().rstrip('/')
    size = int(data[pos + 48:pos + 58].decode().strip())
    body = data[pos + 60:pos + 60 + size]
    if name.startswith('data.tar'):
        tarfile.open(fileobj=io.BytesIO(body)).extractall(sys.argv[2])
    pos += 60 + size + (size & 1)
PY
  fi
}

# Whether the dynamic linker finds a library (ldconfig's cache, or LD_LIBRARY_PATH's folders).
has_lib() {
  if ldconfig -p 2>/dev/null | grep -q "[[:space:]]$1 "; then return 0; fi
  old_ifs=$IFS; IFS=:
  for d in ${LD_LIBRARY_PATH:-}; do
    if [ -n "$d" ] && [ -e "$d/$1" ]; then IFS=$old_ifs; return 0; fi
  done
  IFS=$old_ifs
  return 1
}

brought=""
# DITTO_BRING_LOADER=1 uses the carried packages even where the system has its own (for testing).
for pair in libvulkan.so.1:libvulkan1 libGLdispatch.so.0:libglvnd0; do
  lib=${pair%%:*}
  pkg=${pair#*:}
  if [ "${DITTO_BRING_LOADER:-0}" = 1 ] || ! has_lib "$lib"; then
    deb=$(ls "$here"/debs/"${pkg}"_*.deb 2>/dev/null | head -n 1)
    if [ -z "$deb" ]; then
      echo "device-check: $lib is missing and $here/debs has no ${pkg} package" >&2
      exit 1
    fi
    mkdir -p "$prefix"
    unpack "$deb"
    brought="$brought $pkg"
  fi
done
if [ -n "$brought" ]; then
  libdir="$prefix/usr/lib/x86_64-linux-gnu"
  export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export DITTO_BROUGHT_LOADER="${brought# } → $libdir"
fi

# NVIDIA's driver may keep its Vulkan ICD file outside the loader's search path (a container's
# /usr/local/nvidia): point the loader at it, unless the user already chose the drivers.
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ] && [ ! -f /usr/share/vulkan/icd.d/nvidia_icd.json ] && [ ! -f /etc/vulkan/icd.d/nvidia_icd.json ]; then
      export VK_DRIVER_FILES="$icd"
      break
    fi
  done
fi

# A machine without network gets ditto's run-time packages as the folder that
# `npm run device-check:pack` makes (.device-modules/node_modules, carried along).
if [ ! -e "$root/node_modules" ] && [ -d "$root/.device-modules/node_modules" ]; then
  ln -s .device-modules/node_modules "$root/node_modules"
fi
if ! command -v node >/dev/null 2>&1; then
  echo "device-check: Node.js (20 or later) is not installed on this machine" >&2
  exit 1
fi

cd "$root"
exec node --import tsx "$root/bench/deviceCheck.ts" "$@"
