"""Runs on Temporal: a podium run is a Temporal workflow, each agent call an activity, an approval a
signal (the `podium[temporal]` extra). Nothing here is imported by `import podium` or `podium --help`.

- `workflow`: the workflow code, which drives podium's own scheduler with the call dispatch, the
  event writer and the clock replaced by activities and Temporal's deterministic time;
- `activities`: what workers do with the store and the providers (append events, make one call);
- `client`: connecting, submitting a run, following it, signalling decisions and cancelling;
- `worker`: `podium worker`; `commands` and `plugin` add the commands.
"""
