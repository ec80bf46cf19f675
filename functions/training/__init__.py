"""C5 training: training sets, data checks, split, fit, evaluate."""
