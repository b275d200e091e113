// The orchestrator files checked for what they promise, without an orchestrator: the Kubernetes
// manifests of deploy/k8s (as written, and as `kubectl kustomize` renders them) and the Swarm
// stack deploy/swarm/stack.yml (as `docker stack deploy` reads it: YAML with merge keys). No
// cluster runs here; test/docker/swarm.test.ts deploys the stack on a real swarm.
//
// The rendering needs kubectl. Without it the rendering test is skipped with the reason, except
// under CI (CI=true), where .ci/run installs Debian's kubernetes-client when kubectl is missing.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { buildProgram } from '../../src/cli/main.js';
import { SecretError, readSecretFile } from '../../src/cli/secret.js';
import { idFromHostname } from '../../src/cli/identity.js';
import { parseConfig } from '../../src/daemon/config.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const K8S = path.join(ROOT, 'deploy', 'k8s');
const STACK = path.join(ROOT, 'deploy', 'swarm', 'stack.yml');

function underCI(): boolean {
  const v = (process.env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

// The manifests are read as Kubernetes reads them: YAML 1.1 (sigs.k8s.io/yaml, go-yaml v2).
const yamlFile = (file: string): any => parseYaml(readFileSync(path.join(K8S, file), 'utf8'), { version: '1.1' });

type K8sObject = { kind: string; metadata: { name: string }; [k: string]: any };

/** The objects as written, the generated ConfigMap and Secret named as in kustomization.yaml. */
function written(): K8sObject[] {
  return ['service.yaml', 'statefulset.yaml', 'pdb.yaml'].map(yamlFile);
}

/** The client's own flags, as `client --help` lists them. */
const clientFlags = new Set(buildProgram().options.map((o) => o.long));
const ctlFlags = new Set(buildProgram().commands.find((c) => c.name() === 'ctl')!.options.map((o) => o.long));

/**
 * What the manifests must hold, checked on a list of objects; `generated` maps the kustomization's
 * generator names (ledger-config, ledger-secret) to the names the objects use for them.
 */
function checkK8s(objects: K8sObject[], generated: (name: string) => string): void {
  const of = (kind: string): K8sObject => {
    const found = objects.filter((o) => o.kind === kind);
    expect(found.map((o) => o.metadata.name), kind).toHaveLength(1);
    return found[0]!;
  };
  const sts = of('StatefulSet');
  const svc = of('Service');
  const pdb = of('PodDisruptionBudget');
  const labels = sts.spec.template.metadata.labels;

  // Peers find each other by stable names before they are ready.
  expect(svc.spec.clusterIP).toBe('None');
  expect(svc.spec.publishNotReadyAddresses).toBe(true);
  expect(svc.spec.selector).toEqual(labels);
  expect(svc.spec.ports).toEqual([{ name: 'peer', port: 7100, targetPort: 'peer' }]);
  expect(sts.spec.serviceName).toBe(svc.metadata.name);
  expect(sts.spec.podManagementPolicy).toBe('Parallel');
  expect(sts.spec.selector.matchLabels).toEqual(labels);

  // One pod per client of the config, each named where the config says its peers find it.
  const config = parseConfig(readFileSync(path.join(K8S, 'cluster.json'), 'utf8'), 'cluster.json');
  expect(sts.spec.replicas).toBe(config.clients.length);
  for (let ordinal = 0; ordinal < sts.spec.replicas; ordinal++) {
    const pod = `${sts.metadata.name}-${ordinal}`;
    const id = idFromHostname(pod);
    expect(id).toBe(ordinal + 1);
    expect(config.clients.find((c) => c.id === id)).toMatchObject({ host: `${pod}.${svc.metadata.name}`, port: 7100 });
  }

  const [container, ...others] = sts.spec.template.spec.containers;
  expect(others).toEqual([]);
  // Who it is from the pod's name, the secret from a file, listening beyond loopback.
  const cmd: string[] = container.command;
  expect(cmd[0]).toBe('client');
  for (const flag of cmd.slice(1).filter((w) => w.startsWith('--'))) expect(clientFlags, `client ${flag}`).toContain(flag);
  expect(cmd).toContain('--id-from-hostname');
  expect(cmd).toContain('--no-repl');
  expect(cmd.slice(cmd.indexOf('--listen'), cmd.indexOf('--listen') + 2)).toEqual(['--listen', '0.0.0.0']);
  const secretPath = cmd[cmd.indexOf('--secret-file') + 1]!;
  expect(container.env.some((e: { name: string }) => /SECRET/.test(e.name)), 'no secret in the environment').toBe(false);
  const configPath = container.env.find((e: { name: string }) => e.name === 'LAMPORT_LEDGER_CONFIG').value as string;

  // The readiness probe asks the client itself, by the pod's name.
  for (const probe of [container.readinessProbe, container.livenessProbe]) {
    const words: string[] = probe.exec.command;
    expect(words.slice(0, 2)).toEqual(['client', 'ctl']);
    for (const flag of words.filter((w) => w.startsWith('--'))) expect(ctlFlags, `client ctl ${flag}`).toContain(flag);
    expect(words).toContain('--id-from-hostname');
    expect(words.at(-1)).toBe('status');
  }

  // Mounts: the data volume from the claim template, the config and the Secret as files.
  const mountAt = (dir: string): string => {
    const m = container.volumeMounts.find((v: { mountPath: string }) => dir.startsWith(`${v.mountPath}/`) || dir === v.mountPath);
    expect(m, `a mount holding ${dir}`).toBeDefined();
    return m.name;
  };
  expect(sts.spec.volumeClaimTemplates.map((t: K8sObject) => t.metadata.name)).toEqual([mountAt('/data')]);
  expect(sts.spec.volumeClaimTemplates[0].spec.accessModes).toEqual(['ReadWriteOnce']);
  const volume = (name: string): any => sts.spec.template.spec.volumes.find((v: { name: string }) => v.name === name);
  const secretVolume = volume(mountAt(secretPath));
  expect(secretVolume.secret.secretName).toBe(generated('ledger-secret'));
  expect(secretVolume.secret.defaultMode).toBe(0o400);
  expect(path.basename(secretPath)).toBe('secret');
  expect(volume(mountAt(configPath)).configMap.name).toBe(generated('ledger-config'));
  expect(path.basename(configPath)).toBe('cluster.json');

  // At most one client down at a time for voluntary disruptions.
  expect(pdb.apiVersion).toBe('policy/v1');
  expect(pdb.spec.maxUnavailable).toBe(1);
  expect(pdb.spec.selector.matchLabels).toEqual(labels);
}

/** kubectl, or why not. */
function kubectl(): { ok: true } | { ok: false; why: string } {
  const r = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) return { ok: false, why: `no kubectl command (${r.error.message})` };
  if (r.status !== 0) return { ok: false, why: `kubectl version --client failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}` };
  return { ok: true };
}

describe('deploy/k8s: a StatefulSet behind a headless Service (not run on a cluster here)', () => {
  it('the manifests as written hold what the clients need', () => {
    const k = yamlFile('kustomization.yaml');
    expect(k.resources).toEqual(['service.yaml', 'statefulset.yaml', 'pdb.yaml']);
    expect(k.configMapGenerator).toEqual([{ name: 'ledger-config', files: ['cluster.json'] }]);
    expect(k.secretGenerator).toEqual([{ name: 'ledger-secret', files: ['secret=cluster-secret.txt'] }]);
    // No namespace pinned: the config's relative names work in whichever one it is applied to.
    expect(k.namespace).toBeUndefined();
    checkK8s(written(), (name) => name);
  });

  it('the committed secret is a placeholder every client refuses until it is replaced', () => {
    const file = path.join(K8S, 'cluster-secret.txt');
    expect(() => readSecretFile(file, '--secret-file')).toThrow(SecretError);
    expect(() => readSecretFile(file, '--secret-file')).toThrow(/has 10 characters; a cluster secret needs at least 16/);
  });

  const tool = kubectl();
  const skip = !tool.ok && !underCI() ? `kubectl is not installed (${tool.why}); install it or Debian's kubernetes-client (under CI=true this fails)` : null;
  if (skip !== null) console.warn(`kubectl kustomize test skipped: ${skip}`);

  it('`kubectl kustomize deploy/k8s` renders them, the generated ConfigMap and Secret wired in', (ctx) => {
    if (skip !== null) ctx.skip(skip);
    if (!tool.ok) throw new Error(`kubectl kustomize test: ${tool.why} (CI=true: .ci/run installs kubernetes-client when kubectl is missing)`);
    const r = spawnSync('kubectl', ['kustomize', K8S], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const objects = parseAllDocuments(r.stdout, { version: '1.1' }).map((d) => d.toJS() as K8sObject);
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'PodDisruptionBudget', 'Secret', 'Service', 'StatefulSet']);
    const named = (kind: string): K8sObject => objects.find((o) => o.kind === kind)!;
    const configMap = named('ConfigMap');
    const secret = named('Secret');
    // The generated names carry a hash of the content, so a change rolls the pods.
    expect(configMap.metadata.name).toMatch(/^ledger-config-[a-z0-9]{10}$/);
    expect(secret.metadata.name).toMatch(/^ledger-secret-[a-z0-9]{10}$/);
    expect(configMap.data['cluster.json']).toBe(readFileSync(path.join(K8S, 'cluster.json'), 'utf8'));
    expect(Buffer.from(secret.data.secret, 'base64').toString()).toBe(readFileSync(path.join(K8S, 'cluster-secret.txt'), 'utf8'));
    checkK8s(objects, (name) => (name === 'ledger-config' ? configMap.metadata.name : secret.metadata.name));
  }, 60_000);
});

describe('deploy/swarm/stack.yml: a service per client', () => {
  it('each service is one client: its number in its environment, label, healthcheck and volume; the secret a file; a name that follows the task', () => {
    const stack = parseYaml(readFileSync(STACK, 'utf8'), { merge: true, version: '1.1' });
    const docker = parseConfig(readFileSync(path.join(ROOT, 'config', 'docker.json'), 'utf8'), 'docker.json');
    expect(Object.keys(stack.services)).toEqual(docker.clients.map((c) => `client${c.id}`));
    for (const c of docker.clients) {
      const s = stack.services[`client${c.id}`];
      const n = String(c.id);
      // The service name is the host name the image's config gives this client.
      expect(c.host).toBe(`client${n}`);
      expect(s.environment).toEqual({ LAMPORT_LEDGER_ID: n });
      expect(s.labels).toEqual({ 'org.lamport-ledger.client': n });
      expect(s.healthcheck.test).toEqual(['CMD', 'client', 'ctl', n, 'status']);
      expect(s.volumes).toEqual([`client${n}-data:/data`]);
      expect(s.init).toBe(true);
      expect(s.secrets).toEqual([{ source: 'cluster-secret', target: 'cluster-secret', mode: 0o400 }]);
      const cmd: string[] = s.command;
      expect(cmd[cmd.indexOf('--secret-file') + 1]).toBe('/run/secrets/cluster-secret');
      for (const flag of cmd.slice(1).filter((w) => w.startsWith('--'))) expect(clientFlags, `client ${flag}`).toContain(flag);
      expect(s.deploy).toMatchObject({ replicas: 1, endpoint_mode: 'dnsrr', restart_policy: { condition: 'any' }, update_config: { order: 'stop-first' } });
    }
    expect(Object.keys(stack.volumes)).toEqual(docker.clients.map((c) => `client${c.id}-data`));
    expect(stack.secrets['cluster-secret']).toEqual({ external: true, name: '${LAMPORT_LEDGER_SECRET_NAME:-lamport-ledger-secret}' });
    expect(stack.networks.ledger.driver).toBe('overlay');
  });
});
