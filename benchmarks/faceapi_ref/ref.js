// Reference run of face-api's FaceExpressionNet: face-api 1.7.15's own code on tfjs 4.22.0's
// CPU backend (pure JavaScript; no native tfjs-node). Called by
// `python -m benchmarks.port_check_faceapi`:
//
//   node ref.js CROPS.bin N OUT.json
//
// CROPS.bin: N face crops, 112x112 RGB uint8, row-major (N, 112, 112, 3). The weights are the
// ones this folder's npm install put in node_modules (package-lock.json pins them).
// OUT.json: {"probs": [[7 floats] x N] in face-api's label order, "versions": {...},
//            "weights_sha256": "..."}.
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

const SIZE = 112;

async function main() {
  const [cropsPath, nText, outPath] = process.argv.slice(2);
  if (!cropsPath || !nText || !outPath) {
    throw new Error('usage: node ref.js CROPS.bin N OUT.json');
  }
  const n = Number.parseInt(nText, 10);
  const bytes = fs.readFileSync(cropsPath);
  if (bytes.length !== n * SIZE * SIZE * 3) {
    throw new Error(`${cropsPath}: ${bytes.length} bytes, expected ${n}x${SIZE}x${SIZE}x3`);
  }
  const tf = faceapi.tf;
  await tf.setBackend('cpu');
  await tf.ready();
  const modelDir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')),
    'model');
  const manifest = JSON.parse(fs.readFileSync(
    path.join(modelDir, 'face_expression_model-weights_manifest.json'), 'utf8'));
  const bin = fs.readFileSync(path.join(modelDir, 'face_expression_model.bin'));
  const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  const weightMap = tf.io.decodeWeights(buffer, manifest[0].weights);
  const net = new faceapi.FaceExpressionNet();
  net.loadFromWeightMap(weightMap);
  const probs = [];
  for (let i = 0; i < n; i += 1) {
    const pixels = new Int32Array(bytes.subarray(i * SIZE * SIZE * 3, (i + 1) * SIZE * SIZE * 3));
    const image = tf.tensor3d(pixels, [SIZE, SIZE, 3], 'int32');
    const expressions = await net.predictExpressions(image);
    probs.push(faceapi.FACE_EXPRESSION_LABELS.map((label) => expressions[label]));
    image.dispose();
  }
  const out = {
    probs,
    labels: faceapi.FACE_EXPRESSION_LABELS,
    backend: tf.getBackend(),
    versions: { 'face-api': faceapi.version, tfjs: tf.version.tfjs },
    weights_sha256: crypto.createHash('sha256').update(bin).digest('hex'),
  };
  fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(`error: ${err.message}\n`);
  process.exit(2);
});
