#!/usr/bin/env bash
# A base image for Conduit's Dockerfile made from Debian's packages alone, where no container
# registry can be reached: Debian bookworm (debootstrap, minbase) with python3 (3.11),
# python3-venv and ca-certificates, imported into podman as a local image. Pass it to the build:
#
#   podman build --format docker --network host \
#     --build-arg BASE_IMAGE="$(deploy/offline-base-image.sh)" -t conduit .
#
# The tag names a hash of the recipe (this script, the suite, the packages and the mirror):
# an image with that tag already there is reused, so the base is made again only when the
# recipe changes. Prints the tag on stdout (progress goes to stderr). Needs root, podman and
# debootstrap. The mirror: the first argument, else DEBIAN_MIRROR, else the Debian mirror of
# this machine's apt sources, else http://deb.debian.org/debian.
set -euo pipefail

suite=bookworm
packages=python3,python3-venv,ca-certificates

configured_mirror() {
  # The first .../debian URL of the apt sources (one-line or deb822 format), not -security.
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null || true; } | awk '
      /^[[:space:]]*#/ { next }
      { for (i = 1; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }'
}

mirror=${1:-${DEBIAN_MIRROR:-$(configured_mirror)}}
mirror=${mirror:-http://deb.debian.org/debian}
recipe_hash=$( { cat "$0"; echo "$suite $packages $mirror"; } | sha256sum | cut -c1-12)
tag="localhost/conduit-base:$suite-$recipe_hash"

if podman image exists "$tag"; then
  echo "reusing $tag" >&2
  echo "$tag"
  exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "debootstrap $suite from $mirror into $root" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >&2
# No package lists, downloaded packages or logs in the image.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* "$root"/tmp/*
tar --numeric-owner -C "$root" -c . \
  | podman import --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$tag" >&2
echo "$tag"
