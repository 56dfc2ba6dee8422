/**
 * `spar analyze` through the real CLI (a child process), as a user runs it: istioctl's text lines,
 * summary and exit codes, `-o json|yaml`, namespaces, thresholds, and input it cannot read.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { repoRoot } from '../../src/common/paths.js';
import { parse as parseYaml } from 'yaml';
import { runSpar } from '../helpers/cli.js';
import { analyzeDir, samplesDir } from '../helpers/shared.js';
import { BOOKINFO, MYSQL_WORKLOADS } from './bookinfo-set.js';

// The fixtures stay in the source tree (tsc does not copy YAML to dist/).
const fixtures = join(repoRoot, 'test', 'analyze', 'fixtures');
const fx = (f: string) => join(fixtures, f);
const CLEAN = [...BOOKINFO, ...MYSQL_WORKLOADS];

function noCrash(r: { stdout: string; stderr: string; code: number | null }) {
  assert.notEqual(r.code, null, 'must not hang');
  assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace');
}

// Each case spawns the CLI; they are independent, so they run side by side.
describe('spar analyze CLI', { concurrency: 2 }, () => {
  test('clean Bookinfo (plus a mistake in another namespace): istioctl\'s one warning, a note, exit 0', async () => {
    const r = await runSpar(['analyze', '-f', ...CLEAN, fx('other-namespace.yaml')]);
    noCrash(r);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Warning \[IST0140\] \(VirtualService default\/bookinfo .*bookinfo-gateway\.yaml:41\) Subset in virtual service default\/productpage has no effect on ingress gateway default\/bookinfo requests\n$/);
    assert.match(r.stderr, /^Note: 1 message is about resources outside namespace: default; run with -A/m);
    assert.doesNotMatch(r.stderr, /Analyzers found issues/);
  });

  test('no messages: the istioctl success line', async () => {
    const r = await runSpar(['analyze', '-f', ...CLEAN, '--suppress', 'IST0140=VirtualService default/bookinfo']);
    noCrash(r);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^\u2714 No validation issues found when analyzing:\n {2}- .*bookinfo\.yaml\n/m);
  });

  test('missing subset: istioctl text line with file:line, the issues summary, exit 79', async () => {
    const f = fx('missing-subset.yaml');
    const r = await runSpar(['analyze', '-f', ...CLEAN, f, '-S', 'IST0140=*']);
    noCrash(r);
    assert.equal(r.code, 79);
    assert.equal(r.stdout, `Error [IST0101] (VirtualService default/reviews ${f}:12) Referenced host+subset in destinationrule not found: "reviews+v4"\n`);
    assert.match(r.stderr, /^Error: Analyzers found issues when analyzing namespace: default\.\nSee https:\/\/istio\.io\/latest\/docs\/reference\/config\/analysis for more/m);
  });

  test('-o json: istioctl fields, sorted by level then code; exit 0 as istioctl does for json', async () => {
    const r = await runSpar(['analyze', '-o', 'json', ...CLEAN, fx('wrong-gateway.yaml'), fx('bad-port-names.yaml'), '-S', 'IST0140=*']);
    noCrash(r);
    assert.equal(r.code, 0);
    const msgs = JSON.parse(r.stdout) as Record<string, string>[];
    assert.deepEqual(msgs.map((m) => `${m.level} ${m.code} ${m.origin}`), [
      'Error IST0101 VirtualService default/bookinfo',
      'Warning IST0132 VirtualService default/bookinfo',
      'Info IST0118 Service default/details-admin',
      'Info IST0118 Service default/details',
    ]);
    assert.deepEqual(Object.keys(msgs[0]), ['code', 'documentationUrl', 'level', 'message', 'origin', 'reference']);
    assert.equal(msgs[0].documentationUrl, 'https://istio.io/latest/docs/reference/config/analysis/ist0101/?ref=istioctl-analyze');
    assert.equal(msgs[0].reference, `${fx('wrong-gateway.yaml')}:10`);
    assert.match(r.stdout, /^\[\n\t\{\n\t\t"code": "IST0101",/);
  });

  test('-o yaml: the same objects as YAML; --meshConfigFile applies (DNS auto-allocation: no IST0134)', async () => {
    const se = join(analyzeDir, 'serviceentry-missing-addresses-protocol.yaml');
    const mc = join(analyzeDir, 'serviceentry-missing-addresses-protocol-mesh-cfg.yaml');
    const r = await runSpar(['analyze', '-o', 'yaml', ...CLEAN, fx('unknown-dr-host.yaml'), se, '--meshConfigFile', mc, '-S', 'IST0140=VirtualService *.default']);
    noCrash(r);
    assert.equal(r.code, 0);
    const msgs = (parseYaml(r.stdout) as Record<string, string>[]).filter((m) => m.origin.startsWith('DestinationRule'));
    assert.deepEqual(msgs.map((m) => `${m.code} ${m.origin}`), ['IST0128 DestinationRule default/reviewz', 'IST0174 DestinationRule default/reviewz']);
    assert.equal(msgs[0].reference, `${fx('unknown-dr-host.yaml')}:9`);
    assert.doesNotMatch(r.stdout, /IST0134/);
  });

  test('--failure-threshold: Info messages fail only when asked (the default, Error, is covered above)', async () => {
    const args = ['analyze', ...CLEAN, fx('bad-port-names.yaml'), '-S', 'IST0140=*'];
    const strict = await runSpar([...args, '--failure-threshold', 'Info', '--output-threshold', 'Warning']);
    assert.equal(strict.code, 79);
    assert.equal(strict.stdout, '', 'Info messages are below the output threshold');
  });

  test('the README command: Istio files only (no Services) gives a clear answer, no crash', async () => {
    const r = await runSpar(['analyze', '-f', join(samplesDir, 'bookinfo', 'networking')]);
    noCrash(r);
    assert.equal(r.code, 79);
    // The folder holds alternatives of the same resources; the last of each wins, and with it details routes to a subset (v2)
    // that the last details DestinationRule (fault-injection-details-v1.yaml) does not define.
    assert.match(r.stdout, /^Error \[IST0101\] \(VirtualService default\/details .*virtual-service-details-v2\.yaml:\d+\) Referenced host\+subset in destinationrule not found: "details\+v2"$/m);
    assert.match(r.stdout, /^Warning \[IST0129\] \(DestinationRule default\/originate-tls-for-googleapis /m);
    assert.doesNotMatch(r.stdout, /Referenced host not found/, 'without Services, hosts are not reported missing');
    assert.match(r.stderr, /^Note: \d+ resources are defined more than once \(e\.g\. VirtualService default\/reviews in \d+ files\)/m);
    assert.match(r.stderr, /^Note: the input has no Kubernetes Service, so checks .*\(destinationrule\.SubsetSelectPodAnalyzer, virtualservice\.DestinationHostAnalyzer\).*Add the Kubernetes resources/m);
  });

  test('namespaces: -A reports every namespace', async () => {
    const other = fx('other-namespace.yaml');
    const all = await runSpar(['analyze', '-A', ...CLEAN, other]);
    assert.equal(all.code, 79);
    assert.match(all.stdout, /^Error \[IST0101\] \(VirtualService staging\/reviews .*other-namespace\.yaml:\d+\) Referenced host not found: "reviews"$/m);
  });

  test('unreadable input: a clear error, exit 65', async () => {
    const r = await runSpar(['analyze', '-f', fx('no-such-file.yaml')]);
    noCrash(r);
    assert.equal(r.code, 65);
    assert.match(r.stderr, /no-such-file\.yaml:1: no such file or directory/);
  });
});
