#!/usr/bin/env node
import module from 'node:module';

// Node >= 22.1 can keep the compiled code of every module on disk (in the OS's temp directory),
// which saves most of the parse and compile time of the next start. Node 20 has no such cache: there
// this does nothing. It must run before the CLI's modules load, hence the dynamic imports below.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  // What commander prints for it, without loading commander and every command's modules (about
  // 60 ms of the 120 ms this took): scripts ask for the version often, and it needs nothing else.
  const { packageVersion } = await import('../package-info.ts');
  process.stdout.write(`${packageVersion}\n`);
  process.exit(0);
}

const { processIo } = await import('./io.ts');
const { run } = await import('./program.ts');

// Exit at once: the engine client keeps sockets alive, and on Linux stdout and stderr are
// synchronous for files, pipes and terminals, so nothing written is lost.
process.exit(await run(argv, processIo));
