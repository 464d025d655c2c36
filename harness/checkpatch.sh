#!/usr/bin/env bash
# checkpatch.pl --strict (the base tree's own copy) on every patch of the
# series; exits non-zero if any patch has an error, warning or check.
. "$(dirname "$0")/lib.sh"

[ -x "$TREE/scripts/checkpatch.pl" ] || die "no work tree at $TREE; run 'make tree' first"

# checkpatch asks "does MAINTAINERS need updating?" for every added file.
# It does not when an existing entry with a maintainer already covers the
# file; then the question is answered and only that warning is ignored.
uncovered_new_files() {
	local f
	for f in $(sed -n 's|^+++ b/||p' "$1" | sort -u); do
		grep -q "^new file mode" <(awk -v f="$f" '$0 == "diff --git a/" f " b/" f { on = 1; next }
			/^diff --git / { on = 0 } on' "$1") || continue
		(cd "$TREE" && perl scripts/get_maintainer.pl --no-git --no-rolestats \
			--no-l --no-r -f "$f" 2>/dev/null) | grep -v "torvalds@" | grep -q . || echo "$f"
	done
}

# A "Mainline:" trailer names the mainline commit a patch implements, with
# its whole subject, on one line like a Fixes: tag; checkpatch exempts Fixes:
# from its 75-column limit for commit messages, and only such lines are let
# past it here: the warning is ignored when they are the only long ones.
only_trailers_long() {
	sed -n '/^Subject:/,/^---$/p' "$1" | sed '1d;$d' |
		awk 'length($0) > 75 && !/^Mainline: commit [0-9a-f]+ \("/ { bad = 1 } END { exit bad }'
}

bad=0
for p in $(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/patches/series"); do
	ignore=()
	if [ -z "$(uncovered_new_files "$TOP/patches/$p")" ]; then
		ignore=(--ignore FILE_PATH_CHANGES)
	fi
	if only_trailers_long "$TOP/patches/$p"; then
		ignore+=(--ignore COMMIT_LOG_LONG_LINE)
	fi
	# The ids in Fixes: and Mainline: are mainline's: no repository here
	# has them (the base is a tarball), so checkpatch cannot look them up.
	if out=$(perl "$TREE/scripts/checkpatch.pl" --strict --no-tree -q \
		--ignore UNKNOWN_COMMIT_ID "${ignore[@]}" \
		"$TOP/patches/$p" 2>&1); then
		echo "ok   $p"
	else
		echo "FAIL $p"
		echo "$out" | sed 's/^/     /'
		bad=1
	fi
done
[ $bad = 0 ] || die "checkpatch --strict is not clean (above); fix in build/linux, then 'make export'"
