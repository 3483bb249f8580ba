"""Stage `download`: the corpus in text8 format, from the probe generator, text8 or a local file."""

from rnnmem import params
from rnnmem.data import corpus, probe
from rnnmem.files import atomic_dir
from rnnmem.stage import UserError, parse_arguments, read_json, run_stage


def main() -> None:
    args = parse_arguments(
        __doc__,
        makers={"validated": "validate"},
        validated="the validate stage's record: the settings checked, the corpus file's digest",
        text8_zip="text8's zip: read when present, else downloaded there (source: text8)",
        out="folder for the corpus text and its metadata",
    )
    settings = params.load().corpus
    if settings.source == "probe":
        text, deps = probe.generate(settings.probe_chars, settings.seed)
        origin = f"probe seed {settings.seed}"
    else:
        if settings.source == "text8":
            run = params.load_run()
            text = corpus.load_text8(run.text8_url, args.text8_zip, run.timeout_s, run.retries)
            origin = run.text8_url
        else:
            text = corpus.read_text_file(settings.file_path, settings.min_words)
            origin = settings.file_path
            # The file read is the one DVC tracks, through the validate stage's record.
            record = read_json(args.validated, "run `dvc repro validate`")
            checked = record.get(corpus.FILE_DIGEST) if isinstance(record, dict) else None
            if corpus.file_digest(settings.file_path) != checked:
                raise UserError(
                    f"{settings.file_path} is not the file the validate stage checked (it "
                    "changed since, or that stage has not run); run `dvc repro`"
                )
        text = corpus.first_chars(text, settings.max_chars)
        if settings.max_chars:
            origin += f", first {len(text):,} characters"
        deps = corpus.empty_dependencies()
    with atomic_dir(args.out) as out:
        corpus.save(out, settings.source, origin, text, deps)


if __name__ == "__main__":
    run_stage(main)
