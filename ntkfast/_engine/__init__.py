"""The engine under ntkfast's public modules: where a row of ``X`` goes.

A row given to ``transform``, ``fit`` or ``predict`` (of any estimator, in memory, from the
command line or in a dask block) is

1. checked by :mod:`.validation` (shape, dtype; every parameter of the estimator, as the
   class declares them),
2. read in a batch by :mod:`.batches` (the one batch loop: batch size, dtype rule, NaN/inf
   check naming the absolute row, reused work arrays),
3. turned into features by a compiled snapshot of the fitted model, :mod:`.feature_maps`
   (which calls the compiled kernels of ``ntkfast/_sketch.pyx`` and the FFTs of :mod:`.fft`),
4. consumed: written to the output, accumulated into ridge statistics (:mod:`.ridge_stats`),
   or multiplied by the ridge coefficients.

The exact kernels' driver is :mod:`.exact`; fitted state is published and read atomically
by :mod:`.state`; lazy arrays (dask) reach the same loop through :mod:`.lazy` and
:mod:`.dask_adapter`; :mod:`.files` writes files atomically, :mod:`.progress` shows bars.
Modules here import only each other and the compiled extensions, never the public modules.
"""
