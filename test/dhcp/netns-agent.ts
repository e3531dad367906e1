/**
 * A raw DHCP client port for the integration tests, run INSIDE a client network namespace
 * (`ip netns exec NS node --import tsx test/dhcp/netns-agent.ts IFACE [PORT]`): it binds UDP PORT (68) on
 * 0.0.0.0, restricted to IFACE with SO_BINDTODEVICE, and is driven over stdio in JSON lines:
 *   in:  {"send": "<hex packet>", "host": "255.255.255.255", "port": 67}
 *   out: {"ready": true, "port": 68} once bound; {"rx": "<hex>", "from": "a.b.c.d", "port": n} per datagram;
 *        {"sent": true} per packet sent; {"error": "..."} for anything that went wrong.
 * The packets are built and decoded by the test (with src/dhcp/codec.ts); this process only moves bytes. It
 * exits when stdin closes, and on its own after 10 minutes in case its parent died without closing it.
 */
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { loadBindToDevice } from '../../src/dhcp/device.js';

const [ifname, portText] = process.argv.slice(2);
if (!ifname) {
  process.stderr.write('usage: netns-agent.ts IFACE [PORT]\n');
  process.exit(2);
}
const port = Number(portText ?? 68);
const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

const socket = createSocket({ type: 'udp4', reuseAddr: true });
socket.on('message', (msg, rinfo) => say({ rx: msg.toString('hex'), from: rinfo.address, port: rinfo.port }));
socket.on('error', (err) => say({ error: err.message }));
socket.bind(port, '0.0.0.0', () => {
  socket.setBroadcast(true);
  const binder = loadBindToDevice();
  if (typeof binder !== 'function') {
    say({ error: binder.unavailable });
    process.exit(3);
  }
  binder(socket, ifname);
  say({ ready: true, port: socket.address().port });
});

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let cmd: { send?: string; host?: string; port?: number };
  try {
    cmd = JSON.parse(line) as typeof cmd;
  } catch {
    say({ error: `not JSON: ${line}` });
    return;
  }
  if (!cmd.send) return say({ error: 'nothing to send' });
  socket.send(Buffer.from(cmd.send, 'hex'), cmd.port ?? 67, cmd.host ?? '255.255.255.255', (err) => (err ? say({ error: err.message }) : say({ sent: true })));
});
rl.on('close', () => {
  socket.close();
  process.exit(0);
});
setTimeout(() => process.exit(4), 600_000).unref();
