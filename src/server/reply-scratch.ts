/**
 * The replies of the read chunk being processed, shared by all connections of one server.
 * Chunks are processed one at a time, and their replies are rendered or copied out before the
 * next chunk starts, so one array serves every connection: an idle connection owns none.
 * A slot holds a Reply, or a placeholder for one an asynchronous store decides later.
 */
export class ReplyScratch {
  bytes = new Uint8Array(4096);
  count = 0;

  push(slot: number): void {
    if (this.count === this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.count++] = slot;
  }
}
