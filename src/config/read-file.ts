import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/*
 * Config files are read only when they are regular files of a sane size: a
 * symlink to /dev/zero would never end, a FIFO would block the daemon until
 * someone writes to it. Opened non-blocking, checked with fstat (so what is
 * checked is what is read), then read in full.
 */

/** Larger setup or main files are refused: no real config comes near it, and parsing one costs the event loop. */
export const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;

export class ConfigFileError extends Error {
  /** The errno code when the file could not be opened at all (ENOENT, EACCES, …). */
  constructor(message: string, readonly errno?: string) {
    super(message);
  }
}

export function readConfigFile(file: string, maxBytes = MAX_CONFIG_FILE_BYTES): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigFileError(`cannot read: ${code}${code === 'ENOENT' ? ' (no such file)' : ''}`, code);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new ConfigFileError(`is not a regular file (${kindOf(stat)}); only regular files are read`);
    if (stat.size > maxBytes) throw new ConfigFileError(`is ${stat.size} bytes, over the limit of ${maxBytes} bytes for a config file`);
    const buffer = Buffer.alloc(stat.size);
    let read = 0;
    while (read < stat.size) {
      const n = readSync(fd, buffer, read, stat.size - read, read);
      if (n === 0) break;
      read += n;
    }
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

function kindOf(stat: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a file';
}
