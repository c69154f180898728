import { execFile, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

export const DEPLOY_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const CHART_DIR = join(DEPLOY_ROOT, 'helm/govault');
/** The production-shaped values: external PostgreSQL, S3 and Redis from existing Secrets, 3 upload replicas. */
export const EXTERNAL_VALUES = join(CHART_DIR, 'ci/external-everything-values.yaml');
export const K8S_STRICT_DIR = join(DEPLOY_ROOT, 'tools/k8s-strict');
/** The Helm the project installs (.ci/run): `go install helm.sh/helm/v4/cmd/helm@v4.3.2`. */
export const HELM_VERSION = 'v4.3.2';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, extraDirs: string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extraDirs].filter(Boolean);
  return dirs.map((dir) => join(dir, name)).find(executable);
}

/** Go: on PATH, or where the official tarball puts it. */
export function findGo(): string | undefined {
  return onPath('go', ['/usr/local/go/bin']);
}

/** Helm: on PATH, or in $(go env GOPATH)/bin where `go install` puts it. */
export async function findHelm(): Promise<string | undefined> {
  const found = onPath('helm');
  if (found) return found;
  const go = findGo();
  if (!go) return undefined;
  const { stdout } = await run(go, ['env', 'GOBIN', 'GOPATH']);
  const [gobin, gopath] = stdout.split('\n');
  return onPath('helm', [gobin || join(gopath ?? '', 'bin')]);
}

export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, stdin optional; never throws on a non-zero exit. */
export function runTool(command: string, args: string[], options: { cwd?: string; stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ToolRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(options.stdin ?? '');
  });
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  valuesFiles?: string[];
  /** --set pairs, e.g. `upload.replicas=5`. */
  set?: string[];
  chartDir?: string;
  /** Extra helm arguments (e.g. --dry-run=server) and environment (KUBECONFIG). */
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

function valuesArgs(options: RenderOptions): string[] {
  return [...(options.valuesFiles ?? []).flatMap((file) => ['-f', file]), ...(options.set ?? []).flatMap((pair) => ['--set', pair])];
}

export function helmLint(helm: string, options: RenderOptions = {}): Promise<ToolRun> {
  return runTool(helm, ['lint', '--strict', options.chartDir ?? CHART_DIR, ...valuesArgs(options)]);
}

/** `helm template`: the manifests as text, or the error helm gave. */
export async function helmTemplate(helm: string, options: RenderOptions = {}): Promise<string> {
  const args = ['template', options.release ?? 'govault', options.chartDir ?? CHART_DIR, '--namespace', options.namespace ?? 'govault', ...valuesArgs(options), ...(options.extraArgs ?? [])];
  const result = await runTool(helm, args, { env: options.env });
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')} exited with ${result.code}:\n${result.stderr}`);
  return result.stdout;
}

/** A rendered object, as loosely as the tests read it. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: any;
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((obj): obj is K8sObject => obj !== null && typeof obj === 'object');
}

/** Builds deploy/tools/k8s-strict into `outDir` once; returns the binary's path. */
export async function buildK8sStrict(go: string, outDir: string): Promise<string> {
  const binary = join(outDir, 'k8s-strict');
  const result = await runTool(go, ['build', '-o', binary, '.'], { cwd: K8S_STRICT_DIR });
  if (result.code !== 0) throw new Error(`go build of k8s-strict failed:\n${result.stderr}`);
  return binary;
}

/** Decodes every object of `manifests` strictly as its Kubernetes type (exit 0 and a summary, or the errors). */
export function k8sStrict(binary: string, manifests: string): Promise<ToolRun> {
  return runTool(binary, [], { stdin: manifests });
}
