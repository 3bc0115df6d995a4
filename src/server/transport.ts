/**
 * The transport seam of the protocol port: how the listener is made and what it hands over.
 * The server sees only a node:net Server that calls back with each accepted, readable stream
 * socket; plain TCP (the default) and TLS (tls-listener.ts) both fit, and the line protocol
 * inside is the same.
 */
import { createServer, type Server, type Socket } from 'node:net';

/** Makes the listener; `onSocket` gets each connection once it may carry protocol bytes. */
export type ListenerFactory = (onSocket: (socket: Socket) => void) => Server;

/**
 * Plain TCP. pauseOnConnect: nothing is read before the server has chosen how to read (the
 * shared read buffer, ADR 0004).
 */
export const tcpListener: ListenerFactory = (onSocket) =>
  createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, onSocket);
