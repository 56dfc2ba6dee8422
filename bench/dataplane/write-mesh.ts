/**
 * `node --import tsx bench/dataplane/write-mesh.ts DIR SERVICES ENDPOINTS`: writes the control-plane
 * bench's simulated mesh (bench/controlplane/mesh-gen.ts: a Service + EndpointSlice per service, a
 * DestinationRule on every 2nd, a VirtualService on every 4th, 50 services per namespace, a gRPC port
 * on every 10th) into DIR for the data-plane memory step (memory.mjs); prints its counts as JSON.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { meshCounts, meshFiles } from '../controlplane/mesh-gen.js';

const [dir, services, endpoints] = process.argv.slice(2);
const spec = { services: Number(services), endpoints: Number(endpoints) };
mkdirSync(dir, { recursive: true });
for (const [file, text] of meshFiles(spec)) writeFileSync(join(dir, file), text);
process.stdout.write(`${JSON.stringify(meshCounts(spec))}\n`);
