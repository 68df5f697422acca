/**
 * The report's figures as the kernel shows them (src/report defines every figure; this module only
 * picks which one each helper shows).
 */
import { lossFigure } from '../src/report';
import type { RunRecord } from '../src/runs/read';
import type { PlotlyFigure } from './plotly';

/** The live chart of `train`: the report's loss figure of the run so far. */
export function liveLossFigure(run: RunRecord): PlotlyFigure {
  return lossFigure(run);
}
