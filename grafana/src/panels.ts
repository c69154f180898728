import * as common from '@grafana/grafana-foundation-sdk/common';
import { DatasourceVariableBuilder, QueryVariableBuilder, VariableRefresh, VariableSort } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';

/**
 * The building blocks every GoVault dashboard shares: one Prometheus data source chosen
 * by the `datasource` variable (the provisioned one by default), time series and stat
 * panels that always carry a unit and a description, and queries with a legend.
 */

/** The uid grafana/provisioning/datasources/prometheus.yaml gives the provisioned data source. */
export const PROVISIONED_DATASOURCE_UID = 'govault-prometheus';

const datasource: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

export function datasourceVariable() {
  return new DatasourceVariableBuilder('datasource')
    .label('Data source')
    .type('prometheus')
    .current({ text: 'Prometheus', value: PROVISIONED_DATASOURCE_UID });
}

/** A variable listing the values of `label` on `metric` (e.g. every `service`), "All" included. */
export function labelVariable(name: string, label: string, metric: string) {
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(datasource)
    .query(`label_values(${metric}, ${name})`)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .includeAll(true)
    .multi(true)
    .allValue('.*')
    .current({ text: 'All', value: '$__all' });
}

export interface Query {
  expr: string;
  legend?: string;
}

const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function targets(queries: Query[]) {
  return queries.map((q, i) =>
    new DataqueryBuilder()
      .refId(letters[i]!)
      .datasource(datasource)
      .expr(q.expr)
      .legendFormat(q.legend ?? '__auto'),
  );
}

export interface PanelSpec {
  title: string;
  /** What the panel shows and how to read it: Grafana shows it in the panel's (i) tooltip. */
  description: string;
  /** A Grafana unit id: reqps, s, bytes, Bps, percentunit, short, ... */
  unit: string;
  queries: Query[];
  width?: number;
  height?: number;
}

/** A line graph over time, legend as a table with the last and max value. */
export function timeseries(spec: PanelSpec & { stacked?: boolean; min?: number }) {
  const panel = new TimeseriesPanel()
    .title(spec.title)
    .description(spec.description)
    .unit(spec.unit)
    .datasource(datasource)
    .gridPos({ x: 0, y: 0, w: spec.width ?? 12, h: spec.height ?? 8 })
    .fillOpacity(10)
    .showPoints(common.VisibilityMode.Never)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .calcs(['lastNotNull', 'max']),
    )
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
  if (spec.min !== undefined) panel.min(spec.min);
  if (spec.stacked) panel.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  for (const target of targets(spec.queries)) panel.withTarget(target);
  return panel;
}

/** One big number (the last value), with a sparkline. */
export function stat(spec: PanelSpec) {
  const panel = new StatPanel()
    .title(spec.title)
    .description(spec.description)
    .unit(spec.unit)
    .datasource(datasource)
    .gridPos({ x: 0, y: 0, w: spec.width ?? 6, h: spec.height ?? 5 })
    .graphMode(common.BigValueGraphMode.Area)
    .colorMode(common.BigValueColorMode.Value)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false));
  for (const target of targets(spec.queries)) panel.withTarget(target);
  return panel;
}
