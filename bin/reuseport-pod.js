#!/bin/sh
':' //; exec node -- "$0" "$@"
// The CLI's entry point, read by both sh and Node. Node takes `--env-file` as its own option even
// after a script's path, and exits 9 when the file is missing (nodejs/node#54232), so
// `reuseport-pod create --env-file FILE` would never reach the CLI; Node reads no option after
// "--". sh runs line 2, which starts Node on this same file after "--"; to Node, line 2 is a string
// and a comment. Node resolves the npm bin symlink to this file, so the import below is found.
import '../dist/src/cli/main.js';
