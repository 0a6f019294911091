#!/usr/bin/env node
import { processIo } from './io.ts';
import { run } from './program.ts';

// Exit at once: the engine client keeps sockets alive, and on Linux stdout and stderr are
// synchronous for files, pipes and terminals, so nothing written is lost.
process.exit(await run(process.argv.slice(2), processIo));
