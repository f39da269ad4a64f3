"""Commands for writing workflows: `podium schema`, `podium init`, `podium graph`, `podium completion`.

Also gives every command's RUN and STEP parameters shell completion (`completes`), plugins' commands
included, once they are all registered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from podium.core.errors import BadInput

if TYPE_CHECKING:
    from podium.plugins.manager import Plugins

TEMPLATES = ("minimal", "research", "triage")  # podium.authoring.scaffold.STARTERS, without importing it


def workflow_schema(plugins: Plugins) -> dict[str, Any]:
    """The workflow JSON Schema for the providers installed (their settings and bindings)."""
    from podium.authoring.schema import workflow_schema as build
    from podium.config.resolve import provider_models

    models = provider_models(plugins.providers)
    return build(models["provider_configs"], models["provider_bindings"])


def register(cli: click.Group, plugins: Callable[[], Plugins]) -> None:
    """Add the authoring commands to `cli`."""
    from podium.plugins.commands import guard

    @cli.command()
    @click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write it to this file.")
    @guard
    def schema(output: str | None) -> None:
        """Print the JSON Schema of workflow files, for editors to complete and check them.

        Point an editor at it with a first line in the workflow:
        `# yaml-language-server: $schema=./workflow.schema.json`.
        """
        text = json.dumps(workflow_schema(plugins()), indent=2) + "\n"
        if output is None:
            click.echo(text, nl=False)
            return
        _write(Path(output), text)
        click.echo(f"wrote {output}", err=True)

    @cli.command()
    @click.argument("directory", default=".", type=click.Path(file_okay=False), metavar="[DIR]")
    @click.option(
        "-t", "--template", default="minimal", show_default=True, metavar="|".join(TEMPLATES),
        help="The starter: minimal (two steps), research (fan-out, foreach), triage (a when: branch).",
    )  # fmt: skip
    @guard
    def init(directory: str, template: str) -> None:
        """Create a workflow that runs at once with no credentials (mock replies, a python agent)."""
        from podium.authoring.scaffold import SCHEMA_FILE, create, starter

        chosen = starter(template)  # an unknown template is refused before anything is written
        target = Path(directory)
        create(target, template, workflow_schema(plugins()))
        flow = target / chosen.workflow
        names = sorted([*chosen.files, SCHEMA_FILE])
        click.echo(f"created {template} workflow in {target}: " + ", ".join(names))
        click.echo(f"next: podium run {flow}")

    @cli.command()
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option(
        "-f", "--format", "fmt", type=click.Choice(["text", "mermaid", "dot"]), default="text",
        show_default=True, help="text (levels), mermaid (READMEs, GitHub) or dot (Graphviz).",
    )  # fmt: skip
    @click.option("--run", "run_id", metavar="RUN", help="Show each step's status and cost in this run.")
    @click.option(
        "--db", type=click.Path(dir_okay=False), default=None,
        help="Run database (default: $PODIUM_DB or ~/.podium/podium.db).",
    )  # fmt: skip
    @guard
    def graph(file: str, fmt: str, run_id: str | None, db: str | None) -> None:
        """Draw a workflow's step graph: foreach (*), when (?), approvals and fallbacks marked."""
        from podium.api import load
        from podium.picture import draw, picture_of

        wf = load(file, plugins=plugins())
        status: dict[str, str] = {}
        cost: dict[str, Decimal] = {}
        if run_id is not None:
            status, cost = _run_marks(run_id, db, wf.name)
        click.echo(draw(picture_of(wf, status=status, cost=cost), fmt), nl=False)

    @cli.command()
    @click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
    def completion(shell: str) -> None:
        """Print the script that turns on completion in SHELL (commands, files, run and step ids).

        \b
        bash: eval "$(podium completion bash)"      (in ~/.bashrc)
        zsh:  eval "$(podium completion zsh)"       (in ~/.zshrc)
        fish: podium completion fish > ~/.config/fish/completions/podium.fish
        """
        from click.shell_completion import get_completion_class

        cls = get_completion_class(shell)
        assert cls is not None  # click ships all three
        click.echo(cls(cli, {}, "podium", "_PODIUM_COMPLETE").source())

    _ = (schema, init, graph, completion)


def _run_marks(run_id: str, db: str | None, workflow: str) -> tuple[dict[str, str], dict[str, Decimal]]:
    from podium.api import get_run
    from podium.core.store import open_store

    store = open_store(db)
    try:
        run = get_run(run_id, store=store)
        if run.workflow != workflow:
            raise BadInput(
                f"run {run.run_id} is of workflow '{run.workflow}', not '{workflow}'",
                fix=f"give that workflow's file, or a run of '{workflow}' (podium runs)",
            )
        status = {sid: str(step.status) for sid, step in run.steps.items()}
        cost: dict[str, Decimal] = {}
        try:
            from podium.cost.summary import rows_for_run

            for row in rows_for_run(run.run_id, store) or ():
                if row.cost is not None:
                    cost[row.step] = cost.get(row.step, Decimal(0)) + row.cost
        except Exception:  # a picture without costs beats no picture: `podium cost` says what is wrong
            cost = {}
        return status, cost
    finally:
        store.close()


def _write(path: Path, text: str) -> None:
    if path.is_dir():
        raise BadInput(f"{path} is a folder", fix="give a file name, e.g. workflow.schema.json")
    if not path.parent.exists():
        raise BadInput(
            f"{path}: the folder {path.parent} does not exist",
            fix=f"create it first (mkdir -p {path.parent})",
        )
    path.write_text(text, encoding="utf-8")


def completes(cli: click.Group) -> None:
    """Give each command's RUN and STEP parameters completion from the run database.

    Walks every command, plugins' included (they cannot import the CLI's modules), after they are
    registered; a parameter that already completes is left as it is.
    """

    def lazy(name: str) -> Callable[..., Any]:
        def complete(ctx: Any, param: Any, incomplete: str) -> Any:
            from podium.authoring import completion

            return getattr(completion, name)(ctx, param, incomplete)

        return complete

    def walk(group: click.Group) -> None:
        for command in group.commands.values():
            if isinstance(command, click.Group):
                walk(command)
            for param in command.params:
                if getattr(param, "_custom_shell_complete", None) is not None:
                    continue
                if param.name in ("run_id", "run_ids"):
                    param._custom_shell_complete = lazy("run_ids")  # type: ignore[attr-defined]
                elif param.name == "step":
                    waiting = command.name in ("approve", "reject")
                    param._custom_shell_complete = lazy("waiting_steps" if waiting else "step_ids")  # type: ignore[attr-defined]

    walk(cli)
