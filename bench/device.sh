#!/usr/bin/env bash
# fcnc's GPU benchmarks in one call of the `device` tool (a lent machine with an NVIDIA GPU, no Node, no npm, no
# network): the paper's Table 2 (`fcnc bench` on its 16 variants, 256², the paper's protocol) and one profile of
# EncNet+JPU R50 at 512² (`fcnc profile`), results under $OUT. docs/benchmarks.md ("On a real GPU") has the steps.
#
#   bench/device.sh pack   here, once (needs node, npm's node_modules, python3, xz, apt-get): builds .device/ —
#                          fcnc-device.tar.xz (a Node binary with its ICU data trimmed to English, fcnc bundled into
#                          one file, Dawn's dawn.node, resvg and three DejaVu fonts for the PNG charts) and gl/*.deb
#                          (the Vulkan loader libvulkan1 and the GL dispatch libraries NVIDIA's driver loads), and
#                          says whether the working tree plus .device/ fits the tool's 64 MiB.
#   bench/device.sh        there: run(command="bash bench/device.sh", carry=[".device"], timeout_s=540). Unpacks
#                          into /tmp, installs the .debs into / (a disposable machine), points the Vulkan loader at
#                          the driver's ICD if need be, runs the two benchmarks under time limits (the whole well
#                          under 8 minutes), and writes into $OUT: device.log (everything printed, the machine, GPU
#                          and versions), table2/bench.{txt,md,json,png}, profile/profile.{txt,json,png} (8 files:
#                          what the tool brings back).
#   DEVICE_SMOKE=1 bench/device.sh
#                          the same path on this machine, on whatever adapter it has (llvmpipe), at a tiny size
#                          (narrow networks, 64², a short protocol); leaves / alone. OUT defaults to out/device.
#
# Env (pack): DEVICE_PNG=0 packs without the PNG charts (resvg and fonts, ~2.3 MB; pack does so by itself when the
# working tree leaves no room for them). Then `node bin/run-ts.js bench/device/charts.ts DIR` draws them here from
# the JSON the run brought back (DIR: the folder with table2/ and profile/).
# Env (run): SIZE (Table 2, default 256), PROFILE_SIZE (default 512), WARMUP/RUNS/FORWARDS (default 10/10/10, the
# paper's), PROFILE_RUNS (5), TUNE (cached: the adapter's defaults on a fresh machine; full measures every conv first),
# TABLE2_TIMEOUT (300 s), PROFILE_TIMEOUT (120 s), FCNC_ADAPTER (gpu; auto in a smoke run).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEV=$ROOT/.device
ARCHIVE=$DEV/fcnc-device.tar.xz
LIMIT=$((64 * 1024 * 1024))

die() {
  echo "device.sh: $*" >&2
  exit 1
}

# Bytes that travel to the device machine: tracked and untracked-not-ignored files, plus .device/.
travelling_bytes() {
  local tree carried
  tree=$(cd "$ROOT" && { git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -L -c %s -- 2>/dev/null; } | awk '{s += $1} END {print s + 0}')
  carried=$(find "$DEV" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}')
  echo "$tree $carried"
}

# Builds $ARCHIVE; $1 = png (resvg and fonts for the PNG charts) or no-png.
build_archive() {
  local png=$1 pkg nm m=$ROOT/node_modules
  rm -rf "$STAGE/fcnc-device"
  pkg=$STAGE/fcnc-device
  nm=$pkg/node_modules
  mkdir -p "$nm/webgpu/dist/linux-x64" "$nm/dejavu-fonts-ttf/ttf"
  cp "$STAGE/node" "$pkg/node"
  if [ "$png" = png ]; then
    node "$ROOT/bench/device/bundle.mjs" "$pkg/fcnc.mjs"
    mkdir -p "$nm/@resvg/resvg-js" "$nm/@resvg/resvg-js-linux-x64-gnu"
    cp "$m/@resvg/resvg-js/package.json" "$m/@resvg/resvg-js/index.js" "$m/@resvg/resvg-js/js-binding.js" "$nm/@resvg/resvg-js/"
    cp "$m/@resvg/resvg-js-linux-x64-gnu/package.json" "$m/@resvg/resvg-js-linux-x64-gnu/"*.node "$nm/@resvg/resvg-js-linux-x64-gnu/"
  else
    node "$ROOT/bench/device/bundle.mjs" "$pkg/fcnc.mjs" --no-png
  fi
  cp "$m/webgpu/package.json" "$m/webgpu/index.js" "$nm/webgpu/"
  strip -o "$nm/webgpu/dist/linux-x64/dawn.node" "$m/webgpu/dist/linux-x64/dawn.node" 2>/dev/null ||
    cp "$m/webgpu/dist/linux-x64/dawn.node" "$nm/webgpu/dist/linux-x64/"
  # The chart module finds its fonts when it loads; without PNG they are never read (empty files do).
  cp "$m/dejavu-fonts-ttf/package.json" "$nm/dejavu-fonts-ttf/"
  for f in DejaVuSans.ttf DejaVuSans-Bold.ttf DejaVuSans-Oblique.ttf; do
    if [ "$png" = png ]; then cp "$m/dejavu-fonts-ttf/ttf/$f" "$nm/dejavu-fonts-ttf/ttf/"; else : >"$nm/dejavu-fonts-ttf/ttf/$f"; fi
  done
  git -C "$ROOT" rev-parse HEAD >"$pkg/COMMIT" 2>/dev/null || true
  # Check that the bundle starts here before packing it.
  (cd "$ROOT" && FCNC_ROOT=$ROOT "$pkg/node" "$pkg/fcnc.mjs" check specs/enc_jpu_r50.fcn >/dev/null) ||
    die 'the bundled fcnc does not run here'
  tar -C "$STAGE" -cf - fcnc-device | xz -T1 --x86 --lzma2=preset=9e >"$ARCHIVE.tmp"
  mv "$ARCHIVE.tmp" "$ARCHIVE"
}

# What travels, and whether it fits with a margin of $1 bytes.
fits() {
  local sizes tree carried
  sizes=$(travelling_bytes)
  tree=${sizes% *}
  carried=${sizes#* }
  echo "travels: working tree $tree + .device $carried = $((tree + carried)) bytes of $LIMIT"
  [ $((tree + carried + $1)) -le $LIMIT ]
}

pack() {
  set -e
  command -v node >/dev/null || die 'pack needs node'
  command -v xz >/dev/null || die 'pack needs xz'
  [ -d "$ROOT/node_modules/webgpu" ] || die 'pack needs node_modules (npm ci)'
  STAGE=$(mktemp -d)
  trap 'rm -rf "$STAGE"' EXIT
  mkdir -p "$DEV/gl"
  python3 "$ROOT/bench/device/slim_node.py" "$(readlink -f "$(command -v node)")" "$STAGE/node"
  # The Vulkan loader and the libraries NVIDIA's driver loads, as Debian packages (device README).
  if ! ls "$DEV"/gl/libvulkan1_*.deb >/dev/null 2>&1; then
    local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    mkdir -p /tmp/amd64/partial
    # shellcheck disable=SC2086
    apt-get $o update >/dev/null
    # shellcheck disable=SC2086
    (cd "$DEV/gl" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  fi
  if [ "${DEVICE_PNG:-1}" = 0 ]; then
    build_archive no-png
  else
    build_archive png
  fi
  # PNG charts cost ~2.3 MB (resvg, fonts); leave them out rather than go over (keeping 1 MiB for the tree to grow).
  if [ "${DEVICE_PNG:-1}" != 0 ] && ! fits $((1024 * 1024)); then
    echo 'too close to the limit: packing again without the PNG charts'
    build_archive no-png
  fi
  ls -l "$ARCHIVE" "$DEV"/gl/
  fits 0 || die 'over the 64 MiB the device tool carries'
  echo "ok: run(command=\"bash bench/device.sh\", carry=[\".device\"], timeout_s=540)"
}

unpack() {
  local to=$1
  rm -rf "$to/fcnc-device"
  mkdir -p "$to"
  if command -v xz >/dev/null; then
    tar -C "$to" -xJf "$ARCHIVE"
  else
    python3 -c 'import sys, tarfile
f = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2], **f)' "$ARCHIVE" "$to"
  fi
}

# $1 seconds, $2 a file for its stdout (also shown), then the command: killed (TERM, then KILL 10 s later) when it
# runs longer. Prints its exit code.
limited() {
  local secs=$1 out=$2
  shift 2
  local t0=$SECONDS note=''
  timeout -k 10 "$secs" "$@" | tee "$out"
  local rc=${PIPESTATUS[0]}
  [ $rc -eq 124 ] && note=" (stopped at its ${secs} s limit)"
  echo "[device.sh] exit $rc after $((SECONDS - t0)) s$note"
  return $rc
}

run() {
  [ -f "$ARCHIVE" ] || die "$ARCHIVE missing: run \`bench/device.sh pack\` first and carry .device"
  if [ -z "${OUT:-}" ]; then OUT=$ROOT/out/device; fi
  mkdir -p "$OUT/table2" "$OUT/profile" || die "cannot write to $OUT"
  run_logged 2>&1 | tee -a "$OUT/device.log"
  return "${PIPESTATUS[0]}"
}

run_logged() {
  local smoke=${DEVICE_SMOKE:-0}
  local t0=$SECONDS w=/tmp/fcnc-device-$$
  echo "[device.sh] $(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs; smoke=$smoke"
  unpack "$w" || die 'could not unpack the archive'
  local pkg=$w/fcnc-device
  local packed here
  packed=$(cat "$pkg/COMMIT" 2>/dev/null)
  here=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null)
  echo "[device.sh] fcnc packed at ${packed:-?}, checkout at ${here:-? (no git)}"
  if [ -n "$here" ] && [ -n "$packed" ] && [ "$here" != "$packed" ]; then
    echo '[device.sh] warning: the bundle was packed at another commit: run `bench/device.sh pack` again'
  fi
  if [ "$smoke" != 1 ]; then
    if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
      for f in "$DEV"/gl/*.deb; do dpkg -x "$f" /; done
      ldconfig
    fi
    local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$icd" ] &&
      ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
      export VK_DRIVER_FILES=$icd
    fi
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
    export FCNC_ADAPTER=${FCNC_ADAPTER:-gpu}
  fi
  export FCNC_ROOT=$ROOT FCNC_CACHE_DIR=${FCNC_CACHE_DIR:-$w/cache} EGL_PLATFORM=${EGL_PLATFORM:-surfaceless}
  local fcnc=("$pkg/node" "$pkg/fcnc.mjs")
  echo "[device.sh] node $("$pkg/node" --version); VK_DRIVER_FILES=${VK_DRIVER_FILES:-} FCNC_ADAPTER=${FCNC_ADAPTER:-auto}"
  cd "$ROOT" || exit 1

  local size=${SIZE:-256} psize=${PROFILE_SIZE:-512} warmup=${WARMUP:-10} runs=${RUNS:-10} forwards=${FORWARDS:-10}
  local pruns=${PROFILE_RUNS:-5} tune=${TUNE:-cached} narrow=()
  if [ "$smoke" = 1 ]; then
    size=${SIZE:-64} psize=${PROFILE_SIZE:-64} warmup=${WARMUP:-1} runs=${RUNS:-2} forwards=${FORWARDS:-1}
    pruns=${PROFILE_RUNS:-2} narrow=(--set width=4)
  fi
  local specs
  mapfile -t specs < <("${fcnc[@]}" table2-specs)
  [ ${#specs[@]} -gt 0 ] || die 'the bundled fcnc did not start'

  echo "[device.sh] Table 2: ${#specs[@]} variants at ${size}², warm-up $warmup, $runs rounds of $forwards, --tune $tune"
  local png=() ppng=()
  if [ -d "$pkg/node_modules/@resvg/resvg-js" ]; then
    png=(--png "$OUT/table2/bench.png") ppng=(--png "$OUT/profile/profile.png")
  else
    echo '[device.sh] packed without PNG charts (DEVICE_PNG=0, or no room left): markdown and JSON only; draw the charts back home with: node bin/run-ts.js bench/device/charts.ts <the returned folder>'
  fi
  limited "${TABLE2_TIMEOUT:-300}" "$OUT/table2/bench.txt" "${fcnc[@]}" bench "${specs[@]}" --size "$size" --batch 1 --warmup "$warmup" \
    --runs "$runs" --forwards "$forwards" --tune "$tune" "${narrow[@]}" --md "$OUT/table2/bench.md" \
    --json "$OUT/table2/bench.json" "${png[@]}"
  local rc_table2=$?

  echo "[device.sh] profile: enc_jpu_r50 at ${psize}², $pruns runs, --tune $tune"
  limited "${PROFILE_TIMEOUT:-120}" "$OUT/profile/profile.txt" "${fcnc[@]}" profile specs/enc_jpu_r50.fcn --size "$psize" --runs "$pruns" \
    --tune "$tune" "${narrow[@]}" --json "$OUT/profile/profile.json" "${ppng[@]}"
  local rc_profile=$?

  rm -rf "$w"
  echo "[device.sh] done in $((SECONDS - t0)) s: table2 exit $rc_table2, profile exit $rc_profile; files in $OUT:"
  (cd "$OUT" && find . -type f | sort)
  [ $rc_table2 -eq 0 ] && [ $rc_profile -eq 0 ]
}

case "${1:-run}" in
  pack) pack ;;
  run)
    run
    exit $?
    ;;
  *) die "usage: bench/device.sh [pack|run]" ;;
esac
