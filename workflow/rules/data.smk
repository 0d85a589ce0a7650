# corpus → split → vocabulary → encoded tensors (and the corpus tables).


rule corpus:
    input:
        corpus_files(),
    output:
        corpus=f"{DATA}/corpus.txt",
        tunes=report(
            f"{TABLES}/tunes.tsv", caption="../report/tunes.rst", category="1. Corpus"
        ),
        report=report(
            f"{TABLES}/corpus_report.tsv",
            caption="../report/corpus_report.rst",
            category="1. Corpus",
        ),
    log:
        f"{LOGS}/corpus.log",
    benchmark:
        f"{BENCH}/corpus.tsv"
    localrule: True
    conda:
        "../../envs/abcrnn.yaml"
    params:
        flags=corpus_flags(),
    shell:
        "python -m abcrnn corpus {params.flags} --out {output.corpus:q} --tunes {output.tunes:q}"
        " --report {output.report:q} > {log:q} 2>&1"


rule split:
    input:
        corpus=rules.corpus.output.corpus,
        tunes=rules.corpus.output.tunes,
    output:
        splits=split_files("txt"),
        assignment=f"{DATA}/split.tsv",
    log:
        f"{LOGS}/split.log",
    benchmark:
        f"{BENCH}/split.tsv"
    localrule: True
    conda:
        "../../envs/abcrnn.yaml"
    params:
        flags=cli_flags({k: config["split"][k] for k in ("val", "test", "seed")}),
    shell:
        "python -m abcrnn split --corpus {input.corpus:q} --tunes {input.tunes:q} {params.flags}"
        " --out {output.splits:q} --assignment {output.assignment:q} > {log:q} 2>&1"


rule vocab:
    input:
        f"{DATA}/train.txt",
    output:
        f"{DATA}/{{unit}}/vocab.json",
    log:
        f"{LOGS}/vocab/{{unit}}.log",
    benchmark:
        f"{BENCH}/vocab/{{unit}}.tsv"
    localrule: True
    conda:
        "../../envs/abcrnn.yaml"
    params:
        flags=lambda wc: cli_flags(
            {
                "unit": wc.unit,
                "tags": config["vocab"]["tags"],
                "min_count": config["vocab"]["min_count"],
                "corpus": header_fields(),
            }
        ),
    shell:
        "python -m abcrnn vocab --train {input:q} {params.flags} --out {output:q} > {log:q} 2>&1"


rule encode:
    input:
        texts=split_files("txt"),
        vocab=f"{DATA}/{{unit}}/vocab.json",
    output:
        tensors=split_files("pt", "{unit}"),
        stats=report(
            f"{TABLES}/corpus_stats_{{unit}}.tsv",
            caption="../report/corpus_stats.rst",
            category="1. Corpus",
        ),
    log:
        f"{LOGS}/encode/{{unit}}.log",
    benchmark:
        f"{BENCH}/encode/{{unit}}.tsv"
    localrule: True
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn encode --vocab {input.vocab:q} --texts {input.texts:q} --out {output.tensors:q}"
        " --stats {output.stats:q} > {log:q} 2>&1"
