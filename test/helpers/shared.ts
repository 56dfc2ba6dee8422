/** Paths into ../shared/istio for tests (Istio's CRDs, samples and test data, unchanged). */
import { join } from 'node:path';
import { istioDir } from '../../src/common/paths.js';

export const samplesDir = join(istioDir, 'samples');
export const validationDir = join(istioDir, 'testdata', 'validation');
export const analyzeDir = join(istioDir, 'testdata', 'analyze');
export const bootstrapDir = join(istioDir, 'testdata', 'bootstrap');
export { istioDir };
