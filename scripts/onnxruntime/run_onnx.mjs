// Runs an ONNX model nnilib exported with ONNX Runtime (onnxruntime-node's CPU
// binary): the independent check that the graph computes what LibTorch computes.
//
//   node run_onnx.mjs logits IMAGES.f32 MODEL...
//       IMAGES.f32: float32 pixels in [0, 1], [N, C, H, W] with C, H, W the models';
//       writes each MODEL's logits [N, classes] as float32 to MODEL.logits.f32.
//   node run_onnx.mjs accuracy MODEL DATA_DIR [LIMIT]
//       the test images of an IDX data set (t10k-images-idx3-ubyte[.gz] and its labels):
//       prints {"images": N, "accuracy": A, "seconds": S} on one line.
//   node run_onnx.mjs final FINAL_DIR DATA_DIR
//       a final training's model.onnx on the test images, next to LibTorch's figure from
//       its summary.json (without test-time augmentation, which the graph does not do).
//
// Exit codes: 2 usage, 4 a data file, 1 anything ONNX Runtime refuses.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import ort from 'onnxruntime-node';

const kBatch = 256;

function fail(code, message) {
  process.stderr.write(`run_onnx: ${message}\n`);
  process.exit(code);
}

// The model's input shape [C, H, W] (its first dimension is the batch).
function inputShape(session) {
  const meta = session.inputMetadata?.[0];
  const dims = meta?.shape ?? [];
  if (dims.length !== 4 || !dims.slice(1).every((d) => Number.isInteger(d) && d > 0))
    fail(1, `the model's input is not [batch, C, H, W] (${JSON.stringify(dims)})`);
  return dims.slice(1);
}

async function runBatches(session, pixels, count, chw) {
  const per = chw[0] * chw[1] * chw[2];
  const out = [];
  let classes = 0;
  for (let start = 0; start < count; start += kBatch) {
    const n = Math.min(kBatch, count - start);
    const input = new ort.Tensor('float32', pixels.subarray(start * per, (start + n) * per),
                                 [n, ...chw]);
    const result = await session.run({[session.inputNames[0]]: input});
    const logits = result[session.outputNames[0]];
    classes = logits.dims[1];
    out.push(logits.data);
  }
  const all = new Float32Array(count * classes);
  let offset = 0;
  for (const part of out) {
    all.set(part, offset);
    offset += part.length;
  }
  return {logits: all, classes};
}

function readMaybeGz(dir, name) {
  for (const file of [path.join(dir, name), path.join(dir, name + '.gz')]) {
    if (!fs.existsSync(file)) continue;
    const bytes = fs.readFileSync(file);
    return file.endsWith('.gz') ? zlib.gunzipSync(bytes) : bytes;
  }
  fail(4, `${path.join(dir, name)}[.gz]: no such file`);
}

// An IDX file of unsigned bytes: its dimensions and its data.
function readIdx(dir, name) {
  const b = readMaybeGz(dir, name);
  if (b.length < 4 || b[0] !== 0 || b[1] !== 0 || b[2] !== 0x08)
    fail(4, `${name}: not an IDX file of unsigned bytes`);
  const rank = b[3];
  const dims = [];
  for (let i = 0; i < rank; ++i) dims.push(b.readUInt32BE(4 + 4 * i));
  const data = b.subarray(4 + 4 * rank);
  if (data.length !== dims.reduce((a, d) => a * d, 1)) fail(4, `${name}: truncated`);
  return {dims, data};
}

async function logitsCommand(args) {
  if (args.length < 2) fail(2, 'usage: logits IMAGES.f32 MODEL...');
  const [imagesPath, ...models] = args;
  const raw = fs.readFileSync(imagesPath);
  const pixels = new Float32Array(raw.buffer, raw.byteOffset, Math.floor(raw.length / 4));
  for (const model of models) {
    const session = await ort.InferenceSession.create(model);
    const chw = inputShape(session);
    const per = chw[0] * chw[1] * chw[2];
    if (raw.length % (4 * per) !== 0)
      fail(4, `${imagesPath}: not a whole number of [${chw}] images`);
    const {logits} = await runBatches(session, pixels, raw.length / (4 * per), chw);
    fs.writeFileSync(model + '.logits.f32',
                     Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength));
  }
}

// The top-1 accuracy of `model` on the first `limit` test images of the IDX set in `dir`.
async function accuracyOf(model, dir, limit = Infinity) {
  const session = await ort.InferenceSession.create(model);
  const chw = inputShape(session);
  const images = readIdx(dir, 't10k-images-idx3-ubyte');
  const labels = readIdx(dir, 't10k-labels-idx1-ubyte');
  const count = Math.min(images.dims[0], labels.dims[0], limit);
  if (chw[0] !== 1 || images.dims[1] !== chw[1] || images.dims[2] !== chw[2])
    fail(4, `images of ${images.dims.slice(1)} for a model of [${chw}]`);
  const per = chw[1] * chw[2];
  const pixels = new Float32Array(count * per);
  for (let i = 0; i < count * per; ++i) pixels[i] = images.data[i] / 255;
  const t0 = process.hrtime.bigint();
  const {logits, classes} = await runBatches(session, pixels, count, chw);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  let right = 0;
  for (let i = 0; i < count; ++i) {
    let best = 0;
    for (let c = 1; c < classes; ++c)
      if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    if (best === labels.data[i]) ++right;
  }
  return {images: count, accuracy: right / count, seconds};
}

async function accuracyCommand(args) {
  if (args.length < 2 || args.length > 3) fail(2, 'usage: accuracy MODEL DATA_DIR [LIMIT]');
  const limit = args[2] === undefined ? Infinity : Number(args[2]);
  if (!(limit > 0)) fail(2, `LIMIT ${args[2]}: expected a positive number of images`);
  process.stdout.write(JSON.stringify(await accuracyOf(args[0], args[1], limit)) + '\n');
}

async function finalCommand(args) {
  if (args.length !== 2) fail(2, 'usage: final FINAL_DIR DATA_DIR');
  const [dir, dataDir] = args;
  let summary;
  try {
    summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
  } catch (e) {
    fail(4, `${path.join(dir, 'summary.json')}: ${String(e.message).split('\n')[0]}`);
  }
  const libtorch = summary.test_accuracy_without_tta ?? summary.test_accuracy;
  const r = await accuracyOf(path.join(dir, 'model.onnx'), dataDir);
  const same = typeof libtorch === 'number' && Math.abs(libtorch - r.accuracy) < 1e-9;
  // The final training evaluates in its own precision; the graph computes in float32, so
  // after bf16 a few images may differ (fmnist-trial --evaluate --precision fp32 agrees).
  const precision = typeof summary.precision === 'string' ? summary.precision : 'its precision';
  const note = same ? ': identical'
                    : precision === 'bf16' ? '; the ONNX graph computes in float32' : '';
  process.stdout.write(
      `onnx: ${path.join(dir, 'model.onnx')}: ONNX Runtime test accuracy ` +
      `${r.accuracy.toFixed(4)} on ${r.images} images in ${r.seconds.toFixed(1)} s; ` +
      `LibTorch ${typeof libtorch === 'number' ? libtorch.toFixed(4) : '?'} ` +
      `(evaluated in ${precision}, without test-time augmentation)${note}\n`);
}

const [command, ...args] = process.argv.slice(2);
try {
  if (command === 'logits') await logitsCommand(args);
  else if (command === 'accuracy') await accuracyCommand(args);
  else if (command === 'final') await finalCommand(args);
  else fail(2, 'usage: run_onnx.mjs logits|accuracy|final ...');
} catch (e) {
  fail(1, String(e.message ?? e).split('\n')[0]);
}
