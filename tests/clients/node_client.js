// Scores edgeserve with Node.js's own https module, for tests/tests/e2e/clients.rs.
// Usage: node node_client.js HOST PORT CA.pem KEY ENDPOINT ROWS_JSON
// Prints {"success": {"status", "outputs"}, "refusal": {"status", "message"}}.
'use strict';
const fs = require('fs');
const https = require('https');

const [host, port, caPath, key, endpoint, rowsJson] = process.argv.slice(2);
const ca = fs.readFileSync(caPath);

function score(apiKey) {
  const body = JSON.stringify({ data: JSON.parse(rowsJson) });
  return new Promise((resolve, reject) => {
    const req = https.request({
      host, port: Number(port), method: 'POST', ca, servername: host,
      path: `/api/v1/service/${endpoint}/score`,
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        Authorization: `Bearer ${apiKey}`,
      },
      timeout: 30000,
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

(async () => {
  const ok = await score(key);
  const bad = await score('esk_wrong');
  process.stdout.write(JSON.stringify({
    success: { status: ok.status, outputs: ok.body.result },
    refusal: { status: bad.status, message: bad.body.error.message, body: bad.body },
  }));
})().catch((e) => { console.error(e); process.exit(1); });
