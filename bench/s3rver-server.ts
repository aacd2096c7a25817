// s3rver (a Node.js S3 mock on plain files) as a separate process for bench/peers.ts, so it
// gets an event loop of its own like the other targets. Usage: node bench/s3rver-server.ts PORT DIR
import S3rver from 's3rver';

const [port, directory] = process.argv.slice(2);
if (!port || !directory) throw new Error('usage: s3rver-server.ts PORT DIR');
await new S3rver({
  port: Number(port),
  address: '127.0.0.1',
  directory,
  silent: true,
  configureBuckets: [{ name: 'bench', configs: [] }],
}).run();
process.stdout.write('ready\n');
