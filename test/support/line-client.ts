// The raw line client is shared with the tools' harnesses (tools/ must not import test/).
export { LineClient } from '../../tools/support/line-client.js';
