/**
 * `ditto fid IMAGES.safetensors`: FID against the Fashion-MNIST test statistics, and class accuracy
 * when the requested classes are known, of a tensor file holding `images` [N, 1, 28, 28] in [-1, 1]
 * (and optionally `labels` [N]).
 */
import type { Command } from 'commander';
import { DittoError } from '../../core/errors.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { DEFAULT_CLASSIFIER_PATH, loadClassifier, NUM_CLASSES } from '../../evaluation/metrics/classifier.ts';
import { computeFid, DEFAULT_STATS_PATH, loadReferenceStats } from '../../evaluation/metrics/fid.ts';
import { parseIntFlag } from '../options.ts';

/** `--labels 3` (every image) or `--labels 0,1,2,…` (one per image). */
export function parseLabelsFlag(value: string, n: number): Int32Array {
  const parts = value.split(',').map((s) => s.trim());
  const classes = parts.map((p) => parseIntFlag('--labels', p, 0, NUM_CLASSES - 1));
  if (classes.length === 1) return new Int32Array(n).fill(classes[0]!);
  if (classes.length !== n) throw new DittoError('E_USAGE', `--labels lists ${classes.length} classes but the file has ${n} images (give one class for all, or one per image)`);
  return Int32Array.from(classes);
}

interface FidFlags {
  labels?: string;
  json?: boolean;
  classifier?: string;
  stats?: string;
}

export function registerFid(program: Command): void {
  program
    .command('fid')
    .description('FID (Fashion-MNIST classifier features, against the test-set statistics) and class accuracy of generated images')
    .argument('<images>', "a .safetensors file with 'images' [N, 1, 28, 28] in [-1, 1] and optionally 'labels' [N]")
    .option('--labels <classes>', "requested class of the images: one for all, or a comma list with one per image (default: the file's 'labels')")
    .option('--json', 'print a JSON object instead of text')
    .option('--classifier <file>', 'classifier weights', DEFAULT_CLASSIFIER_PATH)
    .option('--stats <file>', 'reference feature statistics', DEFAULT_STATS_PATH)
    .action((file: string, opts: FidFlags) => {
      const tensors = loadWeights(file, 'images').tensors;
      const images = tensors.get('images');
      if (!images) {
        const names = [...tensors.keys()].slice(0, 8).join(', ');
        throw new DittoError('E_INPUT', `${file}: no tensor named 'images' (the file has: ${names || 'nothing'})`);
      }
      const n = images.shape[0] ?? 0;
      let labels: ArrayLike<number> | undefined;
      if (opts.labels !== undefined) {
        labels = parseLabelsFlag(opts.labels, n);
      } else {
        const l = tensors.get('labels');
        if (l) {
          if (l.dtype !== 'i32' || l.shape.length !== 1 || l.shape[0] !== n) {
            throw new DittoError('E_INPUT', `${file}: 'labels' must be integers [${n}] (one per image), got ${l.dtype} [${l.shape.join(', ')}]`);
          }
          labels = l.data;
        }
      }
      const report = computeFid(images, {
        classifier: loadClassifier(opts.classifier),
        reference: loadReferenceStats(opts.stats),
        labels,
      });
      if (opts.json) {
        process.stdout.write(JSON.stringify({ path: file, ...report }, null, 2) + '\n');
        return;
      }
      const lines = [`images    ${n}`, `FID       ${report.fid.toFixed(3)}   (128-d classifier features vs 10k test images; see docs/metrics.md for the floor at this N)`];
      if (report.accuracy !== undefined) lines.push(`accuracy  ${(report.accuracy * 100).toFixed(2)} %   (classifier agrees with the requested class)`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
