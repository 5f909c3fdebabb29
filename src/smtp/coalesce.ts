import type { Server, Socket } from 'node:net';

/*
 * A client that pipelines MAIL, RCPT and DATA sends them in one packet, and
 * smtp-server answers each with its own write: three syscalls and three TCP
 * segments (it sets TCP_NODELAY) where one would do. Corking the socket while
 * a packet's commands are handled, and uncorking once the loop has run their
 * handlers (smtp.ts calls them back on the next tick), sends the answers to
 * one packet together. An answer that waits for something else (the ledger's
 * commit behind the final 250) comes later and goes out at once.
 */
export function coalesceReplies(server: Server): void {
  server.on('connection', (socket: Socket) => {
    let corked = false;
    socket.prependListener('data', () => {
      if (corked) return;
      corked = true;
      socket.cork();
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    });
  });
}
