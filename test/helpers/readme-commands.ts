// Reads the commands of one README section and the output it shows for each, so that a test can
// run them and compare: the README's examples stay true when the code changes.
//
// In a ```sh block every line is a command that prints nothing. In a plain ``` block a line
// starting with "$ " is a command (continued by a trailing "\" and by a heredoc up to its EOF line),
// and the lines up to the next "$ " are its output. A line that is only "..." stands for lines left
// out. Lines inside commands' heredocs are part of the command.

export interface ReadmeCommand {
  command: string;
  /** The output lines the README shows (without "..." lines). */
  output: string[];
  /** The README left lines out ("..."): the shown ones must appear, others may too. */
  elided: boolean;
}

export function readmeSection(readme: string, heading: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no section ${JSON.stringify(heading)}`);
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(/\n#{1,3} /);
  return end < 0 ? rest : rest.slice(0, end);
}

export function readmeCommands(section: string): ReadmeCommand[] {
  const commands: ReadmeCommand[] = [];
  const lines = section.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)$/.exec(lines[i]!);
    if (!fence) continue;
    const shell = fence[1] === 'sh';
    let current: ReadmeCommand | undefined;
    for (i++; i < lines.length && lines[i] !== '```'; i++) {
      const line = lines[i]!;
      const starts = shell ? line.trim() !== '' : line.startsWith('$ ');
      if (!starts) {
        if (current && line === '...') current.elided = true;
        else if (current) current.output.push(line);
        continue;
      }
      let command = shell ? line : line.slice(2);
      // Continuations: a trailing backslash, or a heredoc whose body runs to its delimiter.
      const heredoc = /<<'?(\w+)'?/.exec(command)?.[1];
      while (command.endsWith('\\') && i + 1 < lines.length) command += `\n${lines[++i]}`;
      while (heredoc && i + 1 < lines.length) {
        command += `\n${lines[++i]}`;
        if (lines[i] === heredoc) break;
      }
      current = { command, output: [], elided: false };
      commands.push(current);
    }
  }
  return commands;
}
