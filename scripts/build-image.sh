#!/usr/bin/env bash
# Builds Volley's container image FROM scratch with buildah (deploy/Containerfile) and,
# with --export DIR, writes the image's root filesystem to DIR (to run it with chroot
# where containers cannot run).
#
#   scripts/build-image.sh [--binary PATH] [--tag NAME] [--export DIR]
#
# Default binary: the release build in the shared target directory. Needs buildah
# (Debian: apt-get install buildah); run as root or with buildah's rootless set-up.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${CARGO_TARGET_DIR:-$HOME/.cache/volley/target}/release/volley
tag=volley:$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)
export_dir=
while (($#)); do
  case $1 in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --export) export_dir=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$binary" ] || { echo "no volley binary at $binary (cargo build --release)" >&2; exit 1; }
command -v buildah >/dev/null || { echo "buildah is not installed (apt-get install buildah)" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$ctx/results"
install -m 0755 "$binary" "$root/usr/local/bin/volley"
# The shared libraries it links (glibc, libgcc), at the paths the loader looks.
for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
# The system's trust store, read locally for https targets.
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nvolley:x:65532:65532:volley:/results:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nvolley:x:65532:\n' >"$root/etc/group"
chmod 1777 "$root/tmp"

buildah bud --quiet --layers=false -f deploy/Containerfile -t "$tag" "$ctx" >/dev/null
echo "built $tag" >&2
if [ -n "$export_dir" ]; then
  # The image as an OCI layout; its one layer is the root filesystem.
  layout=$ctx/oci
  buildah push --quiet "$tag" "oci:$layout:$tag" >/dev/null
  manifest=$(python3 -c 'import json,sys; i=json.load(open(sys.argv[1]+"/index.json")); print(i["manifests"][0]["digest"].split(":")[1])' "$layout")
  mkdir -p "$export_dir"
  for layer in $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(" ".join(l["digest"].split(":")[1] for l in m["layers"]))' "$layout/blobs/sha256/$manifest"); do
    tar -xf "$layout/blobs/sha256/$layer" -C "$export_dir"
  done
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); c=json.load(open(sys.argv[2]+"/blobs/sha256/"+m["config"]["digest"].split(":")[1])); print(json.dumps(c["config"]))' \
    "$layout/blobs/sha256/$manifest" "$layout" >"$export_dir.config.json"
  echo "exported its root filesystem to $export_dir (image config: $export_dir.config.json)" >&2
fi
