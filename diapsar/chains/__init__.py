"""Processing chains (DiapOTB SAR_MultiSlc and its parts): short compositions of steps.

- ``steps``: the step machinery (resume records, timing, log lines) and the one step signature
  ``step(ctx, unit) -> StepResult``;
- ``context``: the run context and the unit a step runs on (master, pair; bursts for IW);
- ``master_steps``, ``pair_steps``: the steps, each reading and writing products around one application;
- ``multislc``: the StripMap chain (``run_chain``); ``runtime``: its run-level helpers (selection, checks, clean-up);
  ``demo``: ``SAR_MultiSlc.py --demo``; ``cli``: the command.
"""
