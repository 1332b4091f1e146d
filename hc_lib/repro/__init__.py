"""Reproduction machinery: sweep files, the papermill runner, reports, and the ``hc-repro`` command.

It imports no learner: it executes notebooks (:mod:`~hc_lib.repro.runner`) and reads the JSON
records they write (:mod:`~hc_lib.repro.report`); :mod:`~hc_lib.repro.sweep` checks a sweep
before anything runs, and :mod:`~hc_lib.repro.cli` is the command line.
"""
