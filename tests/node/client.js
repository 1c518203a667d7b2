// The node ssh2 client of the interop matrix, one action per run:
//   node client.js '{"action": ..., "port": ..., ...}'
// Prints what the remote side printed and exits with the remote exit status
// (90+ for a client-side failure). The host key is checked against the
// server's real key.
'use strict';
const fs = require('fs');
const { Client } = require('ssh2');

const spec = JSON.parse(process.argv[2]);
const expectedKey = Buffer.from(spec.hostkey.split(' ')[1], 'base64');

function fail(err) {
  process.stderr.write(`client error: ${err && err.message ? err.message : err}\n`);
  process.exit(90);
}

function collect(stream, done) {
  let out = '';
  let status = null;
  stream.on('data', (d) => { out += d.toString(); });
  stream.stderr && stream.stderr.on('data', (d) => { out += d.toString(); });
  stream.on('exit', (code) => { status = code; });
  stream.on('close', () => done(out, status));
}

const conn = new Client();
conn.on('error', fail);
conn.on('ready', () => {
  const finish = (out, status) => {
    process.stdout.write(out);
    conn.end();
    process.exitCode = status === null ? 92 : status;
  };
  switch (spec.action) {
    case 'exec':
    case 'agent':
      conn.exec(spec.command, { agentForward: spec.action === 'agent' }, (err, stream) => {
        if (err) return fail(err);
        collect(stream, finish);
      });
      break;
    case 'pty':
      conn.shell({ term: 'xterm' }, (err, stream) => {
        if (err) return fail(err);
        collect(stream, finish);
        stream.write(spec.input);
      });
      break;
    case 'sftp':
      conn.sftp((err, sftp) => {
        if (err) return fail(err);
        sftp.fastPut(spec.local, spec.remote, (e1) => {
          if (e1) return fail(e1);
          sftp.fastGet(spec.remote, spec.local_back, (e2) => {
            if (e2) return fail(e2);
            finish('', 0);
          });
        });
      });
      break;
    case 'forward':
      conn.forwardOut('127.0.0.1', 0, '127.0.0.1', spec.dest_port, (err, stream) => {
        if (err) return fail(err);
        let out = '';
        stream.on('data', (d) => {
          out += d.toString();
          if (out.endsWith('\n')) { stream.end(); finish(out, 0); }
        });
        stream.write(spec.payload);
      });
      break;
    default:
      fail(`unknown action ${spec.action}`);
  }
});

const opts = {
  host: '127.0.0.1',
  port: spec.port,
  username: spec.user,
  privateKey: fs.readFileSync(spec.key),
  readyTimeout: 30000,
  hostVerifier: (key) => Buffer.compare(key, expectedKey) === 0,
};
if (spec.action === 'agent') opts.agent = process.env.SSH_AUTH_SOCK;
conn.connect(opts);
