#!/usr/bin/env bash
# Installs linicl's dependencies from Debian's archive (as root), builds a Release build in
# build/, and runs the main job: `linicl train` on its built-in default config.
#   bash setup.sh            install, build, train the default run
#   bash setup.sh --no-run   install and build only
set -euo pipefail
cd "$(dirname "$0")"

packages=(build-essential cmake libeigen3-dev libhdf5-dev hdf5-tools catch2 libcli11-dev
          clang-format python3-numpy python3-h5py python3-matplotlib python3-torch)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"

if [ "${1:-}" != "--no-run" ]; then
  ./build/linicl train
fi
