#!/usr/bin/env bash
# Layering check: no library file includes a file of a layer above its own.
#
#   base < alloc < core < queues < manager < cluster (on MPI)
#
# A folder may include its own files and those of the folders before it; public
# headers (include/) may include only public headers; base/ (the platform layer)
# includes nothing of shmrt at all, not even a public header; every other layer may
# also include the public headers.
#
# Every #include "..." of a .c or .h file under base/ alloc/ core/ queues/ manager/
# include/ is resolved as the compiler does (next to the including file, then from
# the project root, then from include/); an #include <...> that names a file under
# include/ (<shmrt.h>, <shmrt/queue.h>) counts as an include of that public header.
# A quoted include that resolves to nothing, or to a file outside these folders, is
# an error too. Each violation is printed as FILE:LINE; the exit status is 1 if any.
#
# Usage: layers_test.sh [SOURCE_DIR]   (default: the repository holding this script)
set -euo pipefail
root=$(cd "${1:-$(dirname "$0")/..}" && pwd -P)
cd "$root"

declare -A rank=([base]=0 [alloc]=1 [core]=2 [queues]=3 [manager]=4 [cluster]=5)
order="base < alloc < core < queues < manager < cluster"
folders=(base alloc core queues manager cluster include)

# allowed FROM TO: whether a file of folder FROM may include a file of folder TO.
allowed() {
	local from=$1 to=$2
	case $from in
	include) [[ $to == include ]] ;;
	base) [[ $to == base ]] ;;
	*) [[ $to == include ]] || { [[ -n ${rank[$to]+x} ]] && ((rank[$to] <= rank[$from])); } ;;
	esac
}

# norm PATH: sets rel to PATH (relative to the root) without "." and ".." parts,
# with no process per include.
norm() {
	local -a out=() parts
	local part
	IFS=/ read -r -a parts <<<"$1"
	for part in "${parts[@]}"; do
		case $part in
		'' | .) ;;
		..) if ((${#out[@]})) && [[ ${out[-1]} != .. ]]; then unset 'out[-1]'; else out+=(..); fi ;;
		*) out+=("$part") ;;
		esac
	done
	local IFS=/
	rel="${out[*]}"
}

files=0 checked=0 bad=0
err() {
	echo "$1:$2: $3" >&2
	bad=$((bad + 1))
}

include_re='^[[:space:]]*#[[:space:]]*include[[:space:]]*(["<])([^">]+)[">]'
while IFS= read -r -d '' f; do
	files=$((files + 1))
	from=${f%%/*}
	dir=${f%/*}
	n=0
	while IFS= read -r line; do
		n=$((n + 1))
		[[ $line =~ $include_re ]] || continue
		kind=${BASH_REMATCH[1]} name=${BASH_REMATCH[2]}
		if [[ $kind == '"' ]]; then shown="\"$name\""; else shown="<$name>"; fi
		target=
		if [[ $kind == '"' ]]; then
			for cand in "$dir/$name" "$name" "include/$name"; do
				if [[ -f $cand ]]; then
					target=$cand
					break
				fi
			done
			if [[ -z $target ]]; then
				err "$f" "$n" "#include \"$name\" resolves to no file of the repository"
				continue
			fi
		elif [[ -f include/$name ]]; then
			target=include/$name
		else
			continue # a system header
		fi
		norm "$target"
		to=${rel%%/*}
		checked=$((checked + 1))
		if [[ $rel == ../* || ! " ${folders[*]} " =~ " $to " ]]; then
			err "$f" "$n" "#include $shown ($rel) is outside the library's folders"
		elif ! allowed "$from" "$to"; then
			case $from in
			include) why="public headers (include/) may include only public headers" ;;
			base) why="base/ may include nothing of shmrt but base/, not even public headers" ;;
			*) why="$from/ may include only itself, the layers below it ($order) and include/" ;;
			esac
			err "$f" "$n" "#include $shown includes $rel, upward: $why"
		fi
	done <"$f"
done < <(find "${folders[@]}" -type f \( -name '*.c' -o -name '*.h' \) -print0 2>/dev/null | sort -z)

if ((files == 0 || checked == 0)); then
	echo "layers: nothing scanned under $root (${folders[*]})" >&2
	exit 1
fi
if ((bad)); then
	echo "layers: $bad upward or unresolved include(s) in $files files" >&2
	exit 1
fi
echo "layers: $checked includes of $files files, none upward ($order; include/ alone)"
