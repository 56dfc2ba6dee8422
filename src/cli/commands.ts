/**
 * The table of `spar` subcommands. Each entry declares its arguments here (so `--help` needs no
 * other module) and loads its implementation lazily.
 */
import { Option, type Command } from 'commander';

export function registerCommands(program: Command): void {
  program
    .command('validate')
    .description('check Istio and Kubernetes YAML against Istio\'s schemas and validation rules')
    .requiredOption('-f, --filename <path...>', 'files or folders of YAML, or - for stdin')
    .option('-o, --output <format>', 'output format: text, json or yaml', 'text')
    .action(async (opts) => (await import('./validate.js')).run(opts));
  program
    .command('analyze')
    .description('analyze Istio configuration across resources and report Istio\'s messages (IST0101 ...), like istioctl analyze')
    .argument('[files...]', 'files or folders of YAML (same as -f)')
    .option('-f, --filename <path...>', 'files or folders of YAML, or - for stdin')
    .option('-o, --output <format>', 'output format: text, json or yaml (json and yaml always exit 0, as in istioctl)', 'text')
    .option('-n, --namespace <namespace>', 'namespace to report on, and of resources that name none', 'default')
    .option('-A, --all-namespaces', 'report on every namespace')
    .option('--failure-threshold <level>', 'lowest level (Error, Warning, Info) that makes the exit code 79', 'Error')
    .option('--output-threshold <level>', 'lowest level (Error, Warning, Info) printed', 'Info')
    .option('-S, --suppress <code=resource>', 'hide a code on resources matching a glob, e.g. "IST0102=Namespace *" (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--analyzer <name>', 'run only this analyzer (repeatable; see --list-analyzers)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--meshConfigFile <file>', 'mesh config (YAML) to analyze with, instead of Istio\'s defaults')
    .option('-L, --list-analyzers', 'list the analyzers and exit')
    .option('-v, --verbose', 'say which analyzers ran')
    .action(async (files, opts) => (await import('./analyze.js')).run(files, opts));

  program
    .command('pilot')
    .description('serve Istio config to Envoy (or Spar) proxies over xDS v3 ADS, applying changes live')
    .requiredOption('--config <dir>', 'folder of Istio and Kubernetes YAML to serve and watch')
    .option('--mesh <file>', 'MeshConfig (or the istio ConfigMap) YAML')
    .option('--port <port>', 'ADS gRPC port (0: any free port)', '15010')
    .option('--debug-port <port>', 'debug and metrics HTTP port (0: any free port, -1: off)', '15014')
    .option('--host <addr>', 'address to listen on', '0.0.0.0')
    .option('--xds-uds <path>', 'also serve ADS on this Unix socket (for proxies in other network namespaces)')
    .option('--debounce <duration>', 'quiet period before a push', '100ms')
    .option('--log-level <level>', 'pino log level: debug, info, warn, error', 'info')
    .option('--no-synthetic-addresses', 'do not give Services ClusterIPs and Deployments pods as a cluster would')
    .option('--no-watch', 'do not watch the config folder')
    .action(async (opts) => (await import('./pilot.js')).run(opts));

  program
    .command('proxy')
    .description('the data plane: an Envoy-compatible proxy configured by an Envoy v3 bootstrap and xDS')
    .option('-c, --config-path <file>', 'Envoy v3 bootstrap (YAML or JSON)')
    .option('--config-yaml <yaml>', 'bootstrap YAML merged over --config-path')
    .option('--service-node <id>', 'node.id (overrides the bootstrap)')
    .option('--service-cluster <name>', 'node.cluster (overrides the bootstrap)')
    .option('--base-id <n>', 'accepted for Envoy compatibility (no shared memory is used)')
    .option('-l, --log-level <level>', 'trace, debug, info, warning, error, critical, off', 'info')
    .option('--concurrency <n>', 'accepted; one event loop serves all connections', '1')
    .option('--drain-time-s <s>', 'seconds old listeners/filter chains drain before they close', '600')
    .option('--mode <mode>', 'serve, or validate (check the bootstrap and exit)', 'serve')
    .option('--admin-address-path <file>', 'write the admin address (ip:port) to this file once bound')
    .option('--disable-hot-restart', 'accepted for Envoy compatibility (there is no hot restart)')
    .action(async (opts) => (await import('./proxy.js')).run(opts));

  program
    .command('agent')
    .description('pilot-agent for one pod: traffic capture (iptables), bootstrap, xDS forwarding, status/probe server on 15020, the proxy under UID 1337')
    .option('--type <type>', 'sidecar or router (a gateway: no capture)', 'sidecar')
    .option('--pod <file>', 'the Pod manifest (YAML/JSON): name, namespace, labels, annotations, serviceAccountName, containers, status.podIP')
    .option('--pod-name <name>', 'pod name (overrides --pod)')
    .option('--namespace <ns>', 'pod namespace (overrides --pod)')
    .option('--pod-ip <ip>', 'pod IP (overrides --pod)')
    .option('--service-account <sa>', 'service account (overrides --pod)')
    .option('--label <key=value...>', 'pod labels (added to --pod\'s)')
    .requiredOption('--discovery-address <addr>', 'the pilot: unix:///path/to/socket or host:port')
    .option('--proxy <kind>', 'spar (spar proxy) or envoy (envoy on PATH)', 'spar')
    .option('--work-dir <dir>', 'where the bootstrap and the XDS socket go', './etc/istio/proxy')
    .option('--no-capture', 'do not install iptables capture')
    .option('--drain-duration <duration>', 'how long the proxy drains on shutdown', '5s')
    .option('--status-port <port>', 'status and app-probe port', '15020')
    .option('--proxy-uid <uid>', 'UID (and GID) the proxy runs as', '1337')
    .option('--proxy-log-level <level>', 'the proxy\'s log level', 'warning')
    .option('--envoy-bin <path>', 'envoy binary for --proxy envoy (default: envoy on PATH, copied where UID 1337 can run it)')
    .action(async (opts) => (await import('./agent.js')).run(opts));

  const stateDirOpt = '--state-dir <dir>';
  const stateDirHelp = 'the local runtime\'s state folder (default /run/spar, or $SPAR_STATE_DIR)';
  program
    .command('up')
    .description('the whole mesh on this machine: pods in network namespaces with sidecars, the pilot, an ingress gateway on 127.0.0.1 (default: Istio\'s Bookinfo); needs root')
    .option('-f, --filename <path...>', 'Kubernetes + Istio YAML (default: Bookinfo and its gateway from ../shared/istio/samples)')
    .option('--proxy <kind>', 'the sidecar and gateway proxy: spar or envoy', 'spar')
    .option('--port <port>', 'the ingress gateway\'s port on 127.0.0.1', '8080')
    .option('--wait <seconds>', 'how long to wait for pods to be ready', '180')
    .option('--no-inject-default', 'do not inject sidecars in the default namespace unless it is labelled istio-injection=enabled')
    .option(stateDirOpt, stateDirHelp)
    .option('--bridge <name>', 'the pod bridge', 'spar0')
    .option('--pod-cidr <cidr>', 'pod addresses (the first one is the host\'s, on the bridge)', '10.88.0.0/16')
    .option('--service-cidr <cidr>', 'service VIPs', '10.96.0.0/16')
    .option('--pilot-debug-port <port>', 'the pilot\'s debug port on 127.0.0.1 (proxy-status)', '15014')
    .addOption(new Option('--daemon', 'run the runtime itself (internal)').hideHelp())
    .action(async (opts) => (await import('./up.js')).run(opts));
  program
    .command('down')
    .description('stop the local runtime and remove everything it made (also after a crash)')
    .option(stateDirOpt, stateDirHelp)
    .action(async (opts) => (await import('./down.js')).run(opts));
  program
    .command('apply')
    .description('apply Kubernetes and Istio YAML to the local runtime')
    .requiredOption('-f, --filename <path...>', 'files or folders of YAML, or - for stdin')
    .option('--wait <seconds>', 'wait for the pods to be ready', '0')
    .option(stateDirOpt, stateDirHelp)
    .action(async (opts) => (await import('./apply.js')).run(opts));
  program
    .command('delete')
    .description('delete what the YAML describes from the local runtime')
    .requiredOption('-f, --filename <path...>', 'files or folders of YAML, or - for stdin')
    .option(stateDirOpt, stateDirHelp)
    .action(async (opts) => (await import('./delete.js')).run(opts));
  program
    .command('get')
    .description('list pods and services of the local runtime (pods, services, all)')
    .argument('<kind>', 'pods, services or all')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-A, --all-namespaces', 'every namespace')
    .option('-o, --output <format>', 'wide or json')
    .option(stateDirOpt, stateDirHelp)
    .action(async (kind, opts) => (await import('./get.js')).run(kind, opts));
  program
    .command('logs')
    .description('a pod\'s container log (-c istio-proxy for the sidecar)')
    .argument('<pod>', 'pod name (or its Deployment\'s name)')
    .option('-c, --container <name>', 'container (default: the app)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-f, --follow', 'keep printing new lines')
    .option(stateDirOpt, stateDirHelp)
    .action(async (pod, opts) => (await import('./logs.js')).run(pod, opts));
  program
    .command('exec')
    .description('run a command inside a pod\'s network namespace: spar exec POD -- curl -s productpage:9080')
    .argument('<pod>', 'pod name (or its Deployment\'s name)')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option(stateDirOpt, stateDirHelp)
    .action(async (pod, cmd, opts) => (await import('./exec.js')).run(pod, cmd, opts));

  program
    .command('proxy-config')
    .description('show a proxy\'s listeners, routes, clusters, endpoints or secrets from its admin API (spar proxy or Envoy), like istioctl proxy-config')
    .argument('<type>', 'listeners, routes, clusters, endpoints, secret or all')
    .argument('<admin-address>', 'the proxy\'s admin address, e.g. 127.0.0.1:15000')
    .option('-o, --output <format>', 'short (tables) or json', 'short')
    .action(async (type, address, opts) => (await import('./proxy-config.js')).run(type, address, opts));

  program
    .command('proxy-status')
    .description('sync status of every proxy connected to the pilot (SYNCED, STALE, NACKED per xDS type)')
    .option('--pilot <url>', 'the pilot\'s debug address', 'http://127.0.0.1:15014')
    .option('-o, --output <format>', 'output format: text or json', 'text')
    .action(async (opts) => (await import('./proxy-status.js')).run(opts));
}
