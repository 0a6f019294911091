#!/usr/bin/env node
import module from 'node:module';

// Node >= 22.1 can keep the compiled code of every module on disk (in the OS's temp directory),
// which saves most of the parse and compile time of the next start. Node 20 has no such cache: there
// this does nothing. It must run before the CLI's modules load, hence the dynamic imports below.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const { processIo } = await import('./io.ts');
const { run } = await import('./program.ts');

// Exit at once: the engine client keeps sockets alive, and on Linux stdout and stderr are
// synchronous for files, pipes and terminals, so nothing written is lost.
process.exit(await run(process.argv.slice(2), processIo));
