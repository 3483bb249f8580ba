"""Stage `report`: the HTML report (self-contained, opens from disk), its PNG figures and the
results page, from the reports folder the other stages fill."""

import dataclasses

from rnnmem import params
from rnnmem.profile import read_profile
from rnnmem.report.article import paper_profile
from rnnmem.report.html_report import write_report
from rnnmem.stage import parse_arguments, run_stage


def main() -> None:
    args = parse_arguments(
        __doc__,
        reports="the reports folder the other stages write",
        paper_profile="the article's configuration (YAML), compared with the run's",
        html="the HTML report to write",
        figures="folder for the PNG figures",
        results="the Markdown results page to write",
    )
    run = params.load()
    setup = {
        "corpus": {"source": run.corpus.source},
        "dataset": dataclasses.asdict(run.dataset),
        "models": {kind: dataclasses.asdict(model) for kind, model in run.models.items()},
    }
    paper = paper_profile(setup, read_profile(args.paper_profile))
    write_report(
        args.reports, args.html, args.figures, run.seeds[0], paper, args.results, list(run.models)
    )


if __name__ == "__main__":
    run_stage(main)
