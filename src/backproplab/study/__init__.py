"""The study: its experiments (presets), live checks, figures, the report, and
``reproduce``, which runs them all. Built on :mod:`backproplab.sweeps` and
:mod:`backproplab.training`; figures and the report only read run folders."""
