/**
 * The notebook helpers, for cells of the chamlab kernel:
 *
 *   import * as chamlab from 'chamlab';
 *   import { spec, show, train, plot, showImages } from 'chamlab/kernel';
 *
 * Specs in cells (spec`...`), a readable view of a spec (show), figures of runs and sweeps (plot.*,
 * drawn from src/report's figures), images (showImages) and training with one live output (train).
 */
export { spec, specWith, type CellSpecOptions } from './cell-spec';
export { show, specBundle, resolveSpecLike, type SpecLike } from './show';
export { showFigure } from './figures';
export { showImages, imagesBundle, type ImageItem, type ImageSource, type CodeGrid, type SampleLike, type ShowImagesOptions } from './images';
export { showTable, tableBundle, type ShowTableOptions } from './table';
export { budget, smallBudget } from './budget';
export { displayBundle, LiveOutput, type MimeBundle } from './display';
export { figureBundle, PLOTLY_MIME, type PlotlyFigure } from './plotly';
export { cellName, currentCell, type CellInfo } from './context';
export { train, defaultRunsDir, type TrainOptions } from './train';
export { plot, type RunLike, type SweepLike } from './plot';
export { sweep, type KernelSweepOptions } from './sweep';
