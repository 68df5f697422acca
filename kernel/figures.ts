/** Displaying a figure: one output with the plotly JSON and its HTML rendering (plotly.ts). */
import { displayBundle } from './display';
import { figureBundle, type PlotlyFigure } from './plotly';

/** Displays one plotly figure (src/report's figures, or any plain plotly object). */
export function showFigure(fig: PlotlyFigure): void {
  displayBundle(figureBundle(fig));
}
