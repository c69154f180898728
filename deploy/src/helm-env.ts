import type { K8sObject } from './helm.ts';

/**
 * Secrets and ConfigMaps the operator makes before installing (the values' existingSecret
 * names): name -> key -> a value like the one the operator would put there.
 */
export type ExternalObjects = Record<string, Record<string, string>>;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
  };
}

/** The data of each rendered object of `kind`, decoded (a Secret's data is base64). */
function renderedData(objects: K8sObject[], kind: 'Secret' | 'ConfigMap'): Map<string, Record<string, string>> {
  const byName = new Map<string, Record<string, string>>();
  for (const obj of objects.filter((o) => o.kind === kind)) {
    const data: Record<string, string> = {};
    for (const [key, value] of Object.entries((obj.data ?? {}) as Record<string, string>)) {
      data[key] = kind === 'Secret' ? Buffer.from(value, 'base64').toString('utf8') : value;
    }
    Object.assign(data, obj.stringData ?? {});
    byName.set(obj.metadata.name, data);
  }
  return byName;
}

/**
 * The environment a container of `deployment` starts with, as the kubelet would resolve
 * it: plain values, and secretKeyRef/configMapKeyRef against the rendered objects or the
 * external ones. A reference to an object or key that exists in neither throws, as the
 * pod would not start (CreateContainerConfigError).
 */
export function resolveContainerEnv(deployment: K8sObject, objects: K8sObject[], external: ExternalObjects = {}, containerIndex = 0): Record<string, string> {
  const sources = { Secret: renderedData(objects, 'Secret'), ConfigMap: renderedData(objects, 'ConfigMap') };
  const container = deployment.spec.template.spec.containers[containerIndex];
  const env: Record<string, string> = {};
  for (const variable of (container.env ?? []) as EnvVar[]) {
    if (variable.name in env) throw new Error(`${deployment.metadata.name}: ${variable.name} is set twice`);
    env[variable.name] = resolveOne(deployment.metadata.name, variable, sources, external);
  }
  return env;
}

function resolveOne(where: string, variable: EnvVar, sources: Record<'Secret' | 'ConfigMap', Map<string, Record<string, string>>>, external: ExternalObjects): string {
  if (variable.valueFrom === undefined) return variable.value ?? '';
  const [kind, ref] = variable.valueFrom.secretKeyRef
    ? (['Secret', variable.valueFrom.secretKeyRef] as const)
    : variable.valueFrom.configMapKeyRef
      ? (['ConfigMap', variable.valueFrom.configMapKeyRef] as const)
      : (() => {
          throw new Error(`${where}: ${variable.name} has a valueFrom this check does not know: ${JSON.stringify(variable.valueFrom)}`);
        })();
  const data = sources[kind].get(ref.name) ?? external[ref.name];
  if (data === undefined) throw new Error(`${where}: ${variable.name} refers to ${kind} ${ref.name}, which is neither rendered nor an existing one`);
  const value = data[ref.key];
  if (value === undefined) throw new Error(`${where}: ${variable.name} refers to key ${ref.key} that ${kind} ${ref.name} does not have`);
  return value;
}
