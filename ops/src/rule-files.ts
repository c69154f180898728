import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleFile {
  groups: { name: string; rules: Array<AlertRule | { record: string; expr: string }> }[];
}

interface UnitTestFile {
  tests?: { name?: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

export function readYaml<T>(path: string): T {
  return parse(readFileSync(path, 'utf8')) as T;
}

export function alertRules(file: RuleFile): AlertRule[] {
  return file.groups.flatMap((group) => group.rules.filter((rule): rule is AlertRule => 'alert' in rule));
}

export function recordingRuleNames(file: RuleFile): string[] {
  return file.groups.flatMap((group) => group.rules.flatMap((rule) => ('record' in rule ? [rule.record] : [])));
}

export const SEVERITIES = ['page', 'ticket'] as const;
export const REQUIRED_ANNOTATIONS = ['summary', 'description', 'runbook'] as const;

/** What an operator would miss on this alert: a severity to route it, and the three annotations. */
export function missingMetadata(rule: AlertRule): string[] {
  const problems: string[] = [];
  const severity = rule.labels?.severity;
  if (!SEVERITIES.includes(severity as (typeof SEVERITIES)[number])) problems.push(`labels.severity is ${JSON.stringify(severity)}, not one of ${SEVERITIES.join('|')}`);
  for (const name of REQUIRED_ANNOTATIONS) {
    if (!rule.annotations?.[name]?.trim()) problems.push(`annotations.${name} is missing or empty`);
  }
  return problems;
}

export interface AlertCases {
  firing: number;
  quiet: number;
}

/** Per alert name: how many promtool cases expect it to fire, and how many expect silence. */
export function alertCases(testFiles: UnitTestFile[]): Map<string, AlertCases> {
  const cases = new Map<string, AlertCases>();
  for (const file of testFiles) {
    for (const test of file.tests ?? []) {
      for (const check of test.alert_rule_test ?? []) {
        const counts = cases.get(check.alertname) ?? { firing: 0, quiet: 0 };
        if ((check.exp_alerts ?? []).length > 0) counts.firing++;
        else counts.quiet++;
        cases.set(check.alertname, counts);
      }
    }
  }
  return cases;
}
