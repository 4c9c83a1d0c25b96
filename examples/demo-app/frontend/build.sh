#!/bin/sh
# Build stage of the demo frontend: a stand-in for `npm run build`. Copies src/ to the output
# directory, renames every file under assets/ to name.<content hash>.ext (so nginx can cache them for
# a year), rewrites the references in index.html and stamps the release version and commit.
# POSIX sh + coreutils only: runs in node:18-alpine (busybox) and in the Debian base images alike.
# Usage: build.sh SRC_DIR OUT_DIR VERSION COMMIT
set -eu
src=$1 out=$2 version=$3 commit=$4
case "$version$commit" in
  *[!A-Za-z0-9._+-]*) echo "build.sh: version and commit may only hold [A-Za-z0-9._+-]" >&2; exit 1 ;;
esac
rm -rf "$out"
mkdir -p "$out"
cp -R "$src"/. "$out"/
index="$out/index.html"
for file in "$out"/assets/*; do
  [ -f "$file" ] || continue
  name=${file##*/}
  base=${name%.*}
  ext=${name##*.}
  hash=$(sha256sum "$file" | cut -c1-10)
  hashed="$base.$hash.$ext"
  mv "$file" "$out/assets/$hashed"
  sed -i "s|/assets/$name\"|/assets/$hashed\"|g" "$index"
  echo "build.sh: assets/$name -> assets/$hashed"
done
sed -i "s|__APP_VERSION__|$version|g; s|__APP_COMMIT__|$commit|g" "$index"
printf '{"version": "%s", "commit": "%s"}\n' "$version" "$commit" >"$out/version.json"
if grep -q '__APP_' "$index"; then
  echo "build.sh: unreplaced placeholders in index.html" >&2
  exit 1
fi
