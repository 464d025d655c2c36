#!/usr/bin/env bash
# The kernel work tree: build/linux is the pinned base committed and tagged
# 'base', with patches/series applied on top by 'git am'.
#
#   tree.sh ensure   create the tree if it is missing or half-made; re-apply the
#                    series if patches/ changed and the tree holds no local work
#   tree.sh create   throw the tree away and make it again (FORCE=1 if it has
#                    commits or edits that patches/ does not have)
#   tree.sh export   write the tree's commits after 'base' back to patches/
#   tree.sh base     only download and verify the base package
. "$(dirname "$0")/lib.sh"

SERIES=$TOP/patches/series
STAMP=cmdqv-tree		# in $TREE/.git: what was applied, written last

series_patches() {
	[ -f "$SERIES" ] || return 0
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$SERIES"
}

# A digest of the series as it stands in patches/.
series_digest() {
	local p
	{
		cat "$SERIES" 2>/dev/null || true
		for p in $(series_patches); do
			[ -f "$TOP/patches/$p" ] || die "patches/series names $p, which is not in patches/"
			cat "$TOP/patches/$p"
		done
	} | sha256sum | cut -d' ' -f1
}

fetch_base() {
	fetch_suite_deb "$BASE_SUITE" "$BASE_PKG=$BASE_VERSION" "$BASE_DEB" "$BASE_SHA256"
}

git_tree() {
	git -C "$1" -c user.name="$AUTHOR_NAME" -c user.email="$AUTHOR_EMAIL" "${@:2}"
}

# Record that tree $1 holds patches/ as it is now; written last, so a tree
# without it is one whose making was cut short.
write_stamp() {
	{
		echo "base $BASE_VERSION"
		echo "digest $(series_digest)"
		echo "head $(git -C "$1" rev-parse HEAD)"
	} >"$1/.git/$STAMP"
}

# Apply the series on 'base' in tree $1; on failure leave nothing that looks done.
apply_series() {
	local dir=$1 p
	git_tree "$dir" checkout -q -f -B main base
	git_tree "$dir" clean -q -fdx
	rm -f "$dir/.git/$STAMP"
	for p in $(series_patches); do
		if ! git_tree "$dir" am -q --committer-date-is-author-date "$TOP/patches/$p" >/dev/null 2>"$BUILD/am.log"; then
			git_tree "$dir" am --abort >/dev/null 2>&1 || true
			die "patch $p does not apply ($(grep -m1 -E '^(error|Patch failed)' "$BUILD/am.log" || echo "see $BUILD/am.log")); fix patches/$p, then rerun"
		fi
	done
	write_stamp "$dir"
}

create_tree() {
	local new=$BUILD/linux.new
	fetch_base
	rm -rf "$new"
	mkdir -p "$new"
	note "unpacking $BASE_PKG $BASE_VERSION into $new"
	dpkg-deb --fsys-tarfile "$BASE_DEB" |
		tar -xO "./usr/src/$BASE_PKG.tar.xz" |
		tar -xJ -C "$new" --strip-components=1
	note "committing the base (tag 'base')"
	git init -q -b main "$new"
	git -C "$new" config user.name "$AUTHOR_NAME"
	git -C "$new" config user.email "$AUTHOR_EMAIL"
	git -C "$new" config gc.auto 0
	# -f: the base commit is the tarball exactly, whatever its .gitignore says.
	git -C "$new" add -A -f .
	GIT_AUTHOR_DATE="2025-11-01T00:00:00Z" GIT_COMMITTER_DATE="2025-11-01T00:00:00Z" \
		git -C "$new" commit -q -m "Linux ${BASE_VERSION%%-*} (Debian $BASE_PKG $BASE_VERSION)"
	git -C "$new" tag base
	apply_series "$new"
	rm -rf "$TREE"
	mv "$new" "$TREE"
	note "work tree ready: $TREE ($(series_patches | wc -l) patches on base)"
}

stamp_field() {
	sed -n "s/^$1 //p" "$TREE/.git/$STAMP" 2>/dev/null
}

has_local_work() {
	[ -n "$(git -C "$TREE" status --porcelain --untracked-files=no)" ] ||
		[ "$(git -C "$TREE" rev-parse HEAD)" != "$(stamp_field head)" ]
}

ensure_tree() {
	if [ ! -f "$TREE/.git/$STAMP" ] || ! git -C "$TREE" rev-parse -q --verify base >/dev/null; then
		[ -e "$TREE" ] && note "$TREE is missing or half-made: making it again"
		create_tree
		return
	fi
	# Another base pinned (harness/lib.sh): the tree is made again on it
	if [ "$(stamp_field base)" != "$BASE_VERSION" ]; then
		has_local_work &&
			die "the pinned base is now $BASE_VERSION, but build/linux (on $(stamp_field base)) has work of its own: 'make export' it, then 'make tree FORCE=1'"
		note "the base is now $BASE ($BASE_VERSION): making the tree again"
		create_tree
		return
	fi
	[ "$(stamp_field digest)" = "$(series_digest)" ] && return
	if has_local_work; then
		note "patches/ changed, but build/linux has commits or edits of its own: building build/linux as it is ('make export' to save it, 'make tree FORCE=1' to take patches/)"
		return
	fi
	note "patches/ changed: re-applying the series on base"
	apply_series "$TREE"
}

export_series() {
	local f name n=0
	[ -d "$TREE/.git" ] || die "no work tree at $TREE; run 'make tree' first"
	[ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ] ||
		die "build/linux has uncommitted edits; commit them (git commit --fixup …) before 'make export'"
	git -C "$TREE" merge-base --is-ancestor base HEAD ||
		die "build/linux's HEAD does not descend from 'base' (was the base commit rewritten?); find the series in 'git reflog', reset to it, then 'make export'"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	git -C "$TREE" log --format=%s base..HEAD | awk 'length($0) > 60 {
		print "error: subject longer than 60 characters (format-patch would fold it): " $0
		bad = 1 } END { exit bad }' >&2 ||
		die "shorten the subjects above in build/linux (git rebase -i base, reword), then 'make export'"
	git -C "$TREE" format-patch -q --zero-commit --no-signature --no-numbered \
		-o "$tmp/raw" base..HEAD
	mkdir -p "$tmp/out"
	: >"$tmp/series"
	for f in "$tmp"/raw/*.patch; do
		[ -e "$f" ] || continue
		# Names without the running number, so inserting a patch renames nothing.
		name=$(basename "$f" | sed 's/^[0-9]\{4\}-//')
		while [ -e "$tmp/out/$name" ]; do
			n=$((n + 1))
			name=${name%.patch}-$n.patch
		done
		# A blank context line goes out as an empty line, which git apply
		# reads as context (as GNU diff writes it), instead of a lone space:
		# checkpatch run on a patch file that git tracks checks it as a
		# source file, where that space is trailing whitespace.
		sed 's/^ $//' "$f" >"$tmp/out/$name"
		echo "$name" >>"$tmp/series"
	done
	for f in "$TOP"/patches/*.patch; do
		[ -e "$f" ] || continue
		[ -e "$tmp/out/$(basename "$f")" ] || rm -f "$f"
	done
	for f in "$tmp"/out/*.patch; do
		[ -e "$f" ] || continue
		cmp -s "$f" "$TOP/patches/$(basename "$f")" || cp "$f" "$TOP/patches/"
	done
	cmp -s "$tmp/series" "$SERIES" || cp "$tmp/series" "$SERIES"
	# The tree now matches patches/: record it so 'ensure' sees no local work.
	write_stamp "$TREE"
	note "exported $(wc -l <"$SERIES") patches to patches/ (commit them in the main repo)"
}

mkdir -p "$BUILD"
case ${1:-ensure} in
ensure) ensure_tree ;;
create)
	if [ -f "$TREE/.git/$STAMP" ] && has_local_work && [ "${FORCE:-0}" != 1 ]; then
		die "build/linux has work that patches/ lacks; 'make export' it first, or FORCE=1 to discard it"
	fi
	create_tree
	;;
export) export_series ;;
base) fetch_base ;;
*) die "usage: tree.sh ensure|create|export|base" ;;
esac
