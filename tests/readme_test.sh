#!/bin/sh
# The README's quick start is a whole program: extract it (the first C block after
# "## Using it"), build it against the library of this build, and run two copies at
# once: each must print 400000 (anonymous regions: two runs never share a counter).
# Usage: readme_test.sh README CC INCLUDE_DIR LIBRARY [EXTRA_FLAG]  (the sanitizers')
set -eu
readme=$1 cc=$2 inc=$3 lib=$4 extra=${5:-}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
awk '/^## Using it/ { u = 1 } u && /^```c$/ && !done { c = 1; next }
     c && /^```$/ { c = 0; done = 1 } c { print }' "$readme" > "$dir/quick.c"
[ -s "$dir/quick.c" ] || { echo "no C block after '## Using it'" >&2; exit 1; }
"$cc" -std=gnu11 -Wall -Wextra -Werror $extra -I"$inc" "$dir/quick.c" -o "$dir/quick" "$lib" \
	-Wl,-rpath,"$(dirname "$lib")"
timeout 60 "$dir/quick" > "$dir/a" & a=$!
timeout 60 "$dir/quick" > "$dir/b" & b=$!
wait $a
wait $b
for f in a b; do
	[ "$(cat "$dir/$f")" = 400000 ] || { echo "run $f printed: $(cat "$dir/$f")" >&2; exit 1; }
done
echo "quick start: 400000 twice, concurrently"
