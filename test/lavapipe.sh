#!/usr/bin/env bash
# The real-GPU code path without a GPU: Dawn's Vulkan backend (Tint → SPIR-V, the path an NVIDIA/AMD/Intel GPU
# takes on Linux) on Mesa lavapipe 25, a Vulkan driver that runs on the CPU. Debian 12's own lavapipe (22.3) is
# refused by Dawn; the one in bookworm-backports works. Nothing is installed system-wide: the two packages are
# unpacked into $LVP_DIR (default /tmp/lvp) and the Vulkan loader is pointed at them for one command.
#
#   bash test/lavapipe.sh setup         download and unpack mesa-vulkan-drivers (bookworm-backports) and libvulkan1
#   bash test/lavapipe.sh gpu-kernels   the checks of a real GPU's default kernels (runtime/tuning.ts GPU_TUNING:
#                                       workgroup-tiled convs and conv gradients) on that adapter: every op test of
#                                       a tiled variant, EncNet+JPU's forward against the float64 interpreter and
#                                       the training-parity test of its step, both compiled with the GPU defaults
#                                       (`npm run test:vulkan` runs setup if need be, then this)
#   bash test/lavapipe.sh CMD ARGS…     any command with the software adapter from Dawn's Vulkan backend, e.g.
#                                       bash test/lavapipe.sh npx fcnc profile specs/enc_jpu_r50.fcn --set width=4 --size 64
#
# lavapipe compiles pipelines far more slowly than llvmpipe through OpenGL (the whole op suite takes over 15 minutes;
# the checks above about 5 on two cores), and its timings are its own: compare kernels within one adapter.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LVP=${LVP_DIR:-/tmp/lvp}
MESA_VERSION=${LVP_MESA_VERSION:-25.0.7-2~bpo12+1}
LIB=$LVP/root/usr/lib/x86_64-linux-gnu

setup() {
  if [ -f "$LVP/lvp_icd.json" ] && [ -f "$LIB/libvulkan_lvp.so" ]; then
    echo "lavapipe: already unpacked in $LVP"
    return
  fi
  mkdir -p "$LVP/lists/partial" "$LVP/cache/archives/partial" "$LVP/debs"
  # The suite's URI is the one the machine's Debian source already uses.
  local uri
  uri=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | sed 's/^URIs: *//')
  uri=${uri:-http://deb.debian.org/debian}
  printf 'deb %s bookworm-backports main\ndeb %s bookworm main\n' "$uri" "$uri" >"$LVP/sources.list"
  local a=(-o "Dir::Etc::SourceList=$LVP/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$LVP/lists" -o "Dir::Cache=$LVP/cache")
  apt-get "${a[@]}" update -qq
  (cd "$LVP/debs" && apt-get "${a[@]}" download "mesa-vulkan-drivers=$MESA_VERSION" libvulkan1)
  for d in "$LVP"/debs/*.deb; do dpkg -x "$d" "$LVP/root"; done
  sed "s#\"libvulkan_lvp.so\"#\"$LIB/libvulkan_lvp.so\"#" "$LVP/root/usr/share/vulkan/icd.d/lvp_icd.json" >"$LVP/lvp_icd.json"
  echo "lavapipe: unpacked into $LVP"
}

with_lavapipe() {
  [ -f "$LVP/lvp_icd.json" ] || {
    echo "lavapipe.sh: not set up; run: bash test/lavapipe.sh setup" >&2
    exit 1
  }
  # The library path must be in the environment when the process starts (Dawn opens the loader at once).
  FCNC_ADAPTER=software FCNC_SOFTWARE_BACKEND=vulkan FCNC_TEST_ADAPTER='via Vulkan' LD_LIBRARY_PATH="$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    VK_ICD_FILENAMES="$LVP/lvp_icd.json" "$@"
}

case "${1:-}" in
  setup) setup ;;
  gpu-kernels)
    cd "$ROOT"
    with_lavapipe npx vitest run --project fast test/gpu/ops.test.ts -t 'tiled'
    with_lavapipe npx vitest run --project fast test/gpu/e2e.test.ts -t "real GPU's fixed kernel choices"
    with_lavapipe npx vitest run --project fast test/parity/train_parity.test.ts -t "real GPU's default kernels"
    ;;
  '' | -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) with_lavapipe "$@" ;;
esac
