#!/usr/bin/env bash
# The documentation's one source is docs/man/*.3 and *.7, in mdoc(7). From
# it this script builds the installed man pages and the HTML reference, and
# checks both. Adding a function to the docs = adding `.Nm name` (NAME) and
# `.Fn name ...` (SYNOPSIS) to an existing page, or a new page named after
# its first .Nm; nothing else to register.
#
#   bash scripts/docs.sh coverage        # every function in include/*.h has a page, and back
#   bash scripts/docs.sh lint            # coverage, mandoc -Tlint, man -l without warnings,
#                                        # every name installed and found by man(1)
#   bash scripts/docs.sh man DIR         # DIR/man3/*.3.gz (+ one symlink per extra name)
#   bash scripts/docs.sh html [DIR]      # the HTML reference (default: build/docs/html)
#
# lint and html need mandoc and man-db (bash scripts/deps.sh --docs installs them);
# coverage and man need only the shell tools and gzip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mandir="$root/docs/man"

die() {
    echo "docs.sh: $*" >&2
    exit 1
}

pages() { find "$mandir" -maxdepth 1 -type f -name '*.[37]' | LC_ALL=C sort; }

# The names a page documents: its .Nm lines in NAME (before the first other .Sh).
names_of() {
    awk '/^\.Sh NAME/ { inname = 1; next }
         /^\.Sh / { if (inname) exit }
         inname && /^\.Nm / { n = $2; sub(/,$/, "", n); print n }' "$1"
}

# The functions declared PLAIT_API (PLAIT_MPI_API in plait_mpi.h) in the
# public headers (declarations may span lines: joined up to their ';').
declared() {
    local h
    for h in "$root"/include/*.h; do
        awk '/PLAIT(_MPI)?_API/ && !/#define/ { decl = ""; on = 1 }
             on { decl = decl " " $0; if (index($0, ";")) { on = 0
                      if (match(decl, /plait_[A-Za-z0-9_]+[ \t]*\(/)) {
                          s = substr(decl, RSTART, RLENGTH); sub(/[ \t]*\($/, "", s); print s } } }' "$h"
    done | LC_ALL=C sort -u
}

# "name page" for every documented name.
index_names() {
    local p
    while read -r p; do
        names_of "$p" | sed "s|\$| $(basename "$p")|"
    done < <(pages)
}

coverage() {
    local fail=0 name page p sect
    local idx decl
    idx="$(index_names)"
    decl="$(declared)"
    [ -n "$decl" ] || die "no PLAIT_API or PLAIT_MPI_API function found in include/*.h"
    while read -r name; do
        page="$(awk -v n="$name" '$1 == n { print $2; exit }' <<<"$idx")"
        if [ -z "$page" ]; then
            echo "docs.sh: $name is declared in include/ but has no man page: add '.Nm $name' to the NAME" \
                "section and '.Fn $name ...' to the SYNOPSIS of a page in docs/man/ (or a new page $name.3)" >&2
            fail=1
        elif ! awk -v n="$name" '/^\.Sh SYNOPSIS/ { on = 1; next } /^\.Sh / { on = 0 }
                                on && ($1 == ".Fn" || $1 == ".Fo") && $2 == n { found = 1 }
                                END { exit !found }' "$mandir/$page"; then
            echo "docs.sh: $page names $name but its SYNOPSIS has no '.Fn $name' (or .Fo)" >&2
            fail=1
        fi
    done <<<"$decl"
    # Back: no page documents a function that is gone, and pages are named after their first name.
    while read -r name page; do
        [ "$name" = plait ] && [ "$page" = plait.7 ] && continue
        grep -qx "$name" <<<"$decl" || {
            echo "docs.sh: $page documents $name, which no header in include/ declares" >&2
            fail=1
        }
    done <<<"$idx"
    while read -r p; do
        sect="${p##*.}"
        [ "$(names_of "$p" | head -n 1).$sect" = "$(basename "$p")" ] ||
            { echo "docs.sh: $(basename "$p") must be named after its first .Nm" >&2; fail=1; }
    done < <(pages)
    # Every cross-reference to a plait page resolves to a documented name.
    local xr
    while read -r xr; do
        grep -q "^${xr%% *} " <<<"$idx" || {
            echo "docs.sh: .Xr $xr: no page documents ${xr%% *}" >&2
            fail=1
        }
    done < <(grep -ho 'Xr plait[A-Za-z0-9_]* [0-9]' "$mandir"/*.[37] | cut -d' ' -f2- | sort -u)
    [ "$fail" -eq 0 ] || exit 1
    echo "docs.sh: $(wc -l <<<"$decl") functions, each on one of $(pages | wc -l) pages"
}

# The installed tree: DIR/manS/page.S.gz, and a symlink per extra name.
build_man() {
    local out="$1" p base sect name
    rm -rf "$out"
    while read -r p; do
        base="$(basename "$p")"
        sect="${base##*.}"
        mkdir -p "$out/man$sect"
        gzip -9nc "$p" >"$out/man$sect/$base.gz"
        while read -r name; do
            [ "$name.$sect" = "$base" ] || ln -sf "$base.gz" "$out/man$sect/$name.$sect.gz"
        done < <(names_of "$p")
    done < <(pages)
}

need_tools() {
    bash "$root/scripts/deps.sh" --docs
    command -v mandoc >/dev/null 2>&1 && command -v man >/dev/null 2>&1 ||
        die "mandoc and man-db are needed: bash scripts/deps.sh --docs"
}

lint() {
    need_tools
    coverage
    local fail=0 p out name page
    while read -r p; do
        # WARNING and above (STYLE notes such as the explicit .Os are allowed).
        out="$(mandoc -Tlint -Wwarning "$p" 2>&1)" || true
        [ -z "$out" ] || { echo "$out" >&2; fail=1; }
        # What man(1) users see: groff's own warnings (mac) on its rendering.
        out="$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$p" 2>&1 >/dev/null)" || fail=1
        [ -z "$out" ] || { echo "docs.sh: man -l $(basename "$p"):" >&2; echo "$out" >&2; fail=1; }
    done < <(pages)
    # Installed, every name opens its page: `man plait_task_status` works.
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/plait-man.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    build_man "$tmp"
    while read -r name page; do
        out="$(man -M "$tmp" -w "${page##*.}" "$name" 2>&1)" || true
        [ "$(readlink -f "$out")" = "$(readlink -f "$tmp/man${page##*.}/$page.gz")" ] || {
            echo "docs.sh: man $name finds '$out', not $page" >&2
            fail=1
        }
    done < <(index_names)
    [ "$fail" -eq 0 ] || exit 1
    echo "docs.sh: $(pages | wc -l) pages lint-clean and installed under $(index_names | wc -l) names"
}

html() {
    need_tools
    local out="${1:-$root/build/docs/html}" p base sect name
    mkdir -p "$out"
    find "$out" -maxdepth 1 -name '*.html' -delete
    {
        echo '<!DOCTYPE html>'
        echo '<html><head><meta charset="utf-8"><title>plait reference</title></head><body>'
        echo '<h1>plait reference</h1><p>Generated from docs/man (mdoc) by scripts/docs.sh; the same source'
        echo 'as the installed man pages.</p><ul>'
    } >"$out/index.html"
    # Links: to this reference for plait's names (mandoc picks the first
    # format when a file %N.%S exists in its working directory), else to
    # Debian's man pages.
    # (global: the EXIT trap reads it)
    names="$(mktemp -d "${TMPDIR:-/tmp}/plait-names.XXXXXX")"
    trap 'rm -rf "$names"' EXIT
    while read -r name p; do
        : >"$names/$name.${p##*.}"
    done < <(index_names)
    while read -r p; do
        base="$(basename "$p")"
        sect="${base##*.}"
        (cd "$names" && mandoc -Thtml -O 'man=%N.%S.html;https://manpages.debian.org/%N.%S' "$p") \
            >"$out/$base.html"
        while read -r name; do
            [ "$name.$sect" = "$base" ] || ln -sf "$base.html" "$out/$name.$sect.html"
        done < <(names_of "$p")
        printf '<li><a href="%s.html">%s(%s)</a> &mdash; %s</li>\n' "$base" "$(names_of "$p" | paste -sd, | sed 's/,/, /g')" \
            "$sect" "$(sed -n 's/^\.Nd //p' "$p" | sed 's/&/\&amp;/g; s/</\&lt;/g')" >>"$out/index.html"
    done < <(pages)
    echo '</ul></body></html>' >>"$out/index.html"
    # Every link to another page of the reference resolves.
    local fail=0 href
    while read -r href; do
        [ -e "$out/$href" ] || { echo "docs.sh: html: broken link $href" >&2; fail=1; }
    done < <(grep -ho 'href="plait[A-Za-z0-9_]*\.[0-9]\.html"' "$out"/*.html | sed 's/^href="//; s/"$//' | sort -u)
    [ "$fail" -eq 0 ] || exit 1
    echo "docs.sh: HTML reference in $out/index.html"
}

case "${1:-}" in
    coverage) coverage ;;
    lint) lint ;;
    man) [ $# -eq 2 ] || die "usage: docs.sh man DIR"; build_man "$2" ;;
    html) html "${2:-}" ;;
    *) sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
