// Runs an ONNX model in ONNX Runtime (the npm package onnxruntime-node,
// CPU) for Retina's graph/onnx tests.
//
// Usage: node run_ort.js SPEC.json
//        node run_ort.js --version
//
// SPEC.json is {"model": "m.onnx", "inputs": [{"name": "input", "type":
// "float32", "dims": [1000, 1, 28, 28], "file": "input.bin"}, …],
// "outputs": [{"name": "output", "file": "output.bin"}, …]}: each input
// file holds raw little-endian values of its type (float32 or float64),
// row-major. Each output is written raw and little-endian in its own
// element type, and one line of JSON on stdout lists the outputs' names,
// types and dims.
//
// onnxruntime-node is found in the node_modules folder named by
// RETINA_ONNXRUNTIME, or else by node's own resolution (NODE_PATH).
'use strict';
const fs = require('fs');
const path = require('path');

function loadOrt() {
  const dir = process.env.RETINA_ONNXRUNTIME;
  const where = dir ? path.resolve(dir, 'onnxruntime-node') : 'onnxruntime-node';
  try {
    return require(where);
  } catch (e) {
    const from = dir ? `RETINA_ONNXRUNTIME=${dir}` : `NODE_PATH=${process.env.NODE_PATH || ''}`;
    console.error(`cannot load ${where} (${from}): ${String(e.message).split('\n')[0]}`);
    process.exit(2);
  }
}

const arrays = {float32: Float32Array, float64: Float64Array};

function readInput(ort, base, spec) {
  const Array = arrays[spec.type];
  if (!Array) throw new Error(`input ${spec.name}: type ${spec.type}, want float32 or float64`);
  const buf = fs.readFileSync(path.resolve(base, spec.file));
  const n = spec.dims.reduce((a, b) => a * b, 1);
  if (buf.length !== n * Array.BYTES_PER_ELEMENT) {
    throw new Error(`input ${spec.name}: ${buf.length} bytes, want ${n} ${spec.type} values`);
  }
  const data = new Array(n);
  new Uint8Array(data.buffer).set(buf);
  return new ort.Tensor(spec.type, data, spec.dims);
}

async function main() {
  const ort = loadOrt();
  if (process.argv[2] === '--version') {
    console.log(ort.env.versions.node);
    return;
  }
  const specPath = process.argv[2];
  if (!specPath) throw new Error('usage: node run_ort.js SPEC.json | --version');
  const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
  const base = path.dirname(specPath);
  const session = await ort.InferenceSession.create(path.resolve(base, spec.model), {intraOpNumThreads: 2});
  const feeds = {};
  for (const s of spec.inputs) feeds[s.name] = readInput(ort, base, s);
  const results = await session.run(feeds);
  const report = [];
  for (const o of spec.outputs) {
    const t = results[o.name];
    if (!t) throw new Error(`no output ${o.name}`);
    fs.writeFileSync(path.resolve(base, o.file), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    report.push({name: o.name, type: t.type, dims: t.dims});
  }
  console.log(JSON.stringify({outputs: report}));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
