"""What every cloud provider shares, so that a new cloud supplies only what is its own.

Import the modules by path (``podium.providers._kit.threads``); this package imports nothing, so a
provider that needs one piece loads only that piece:

- `threads`: one bounded thread pool per provider for a blocking SDK; cancelled calls close their streams
- `propagation`: the headers a call sends its cloud (its ``traceparent``), per request or through an SDK hook
- `errors`: a table from HTTP status and service error code to podium's errors; the retry-after parser
- `lock`: ``podium-lock.json``, what ``podium deploy`` made, by workflow, provider and target
- `functions`: a user's ``module:function`` imported once and called, sync or async, from a loop or a thread
- `tools`: the tool loop — a declared tool called with ``(name, args)``, its result and a record of the call
- `deploying`: a managed agent's instructions rendered for a deploy, and waiting for a cloud to be ready
- `scripted`, `brains`: the workflow's ``mock:`` replies, and the brains that answer an emulator's turns
- `faults`, `http`, `emulator`: the `CloudEmulator` base — HTTP on 127.0.0.1, routes, faults, request log
- `tls`: a throwaway CA and 127.0.0.1 certificate, for an emulator whose SDK insists on HTTPS (``tls = True``)
- `signatures`: a python tool's signature as the JSON Schema of its parameters, for function-tool declarations
"""
