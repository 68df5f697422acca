/**
 * Reports: figures as plain plotly objects built from run folders (readRun) and sweep folders
 * (loadSweep), and the offline HTML report that shows them. The notebook kernel displays these same
 * figures; nothing else defines them.
 */
export { type Figure, emaHalfLife, ema, autoAxisType, formatValue } from './figure';
export { shortPaths, overridesLabel, runLabels } from './labels';
export {
  type RunInput,
  type RunFigureOptions,
  lossFigure,
  evalSourcesFigure,
  lrFigure,
  stabilityFigures,
  layerRmsFigure,
  attentionLogitFigure,
  logitsFigure,
  optimizerFigure,
  halfLifeFor,
  runStatus,
} from './run-figures';
export { type SweepRecord, type SweepMember, type MemberOutcome, loadSweep, memberOutcome, variants } from './sweep';
export { type SweepFigureOptions, sweepLossFigure, lrSensitivityFigure, sweepHeatmap, lrKey, lrSensitivity, divergedCap } from './sweep-figures';
export { membersTable, runsTable } from './tables';
export { type Report, type ReportSection, type ReportOptions, type WrittenReport, buildReport, renderReportHtml, writeReport, defaultReportPath } from './html';
