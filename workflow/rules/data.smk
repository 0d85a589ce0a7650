# corpus → split → vocabulary → encoded tensors (and the corpus tables).


rule corpus:
    input:
        corpus_files(),
    output:
        corpus=f"{DATA}/corpus.txt",
        tunes=report(f"{TABLES}/tunes.tsv", caption="../report/tunes.rst", category="1. Corpus"),
        report=report(f"{TABLES}/corpus_report.tsv", caption="../report/corpus_report.rst", category="1. Corpus"),
    params:
        args=corpus_args(),
    log:
        f"{LOGS}/corpus.log",
    benchmark:
        f"{BENCH}/corpus.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn corpus {params.args} --out {output.corpus} --tunes {output.tunes}"
        " --report {output.report} > {log} 2>&1"


rule split:
    input:
        corpus=rules.corpus.output.corpus,
        tunes=rules.corpus.output.tunes,
    output:
        expand(f"{DATA}/{{split}}.txt", split=SPLITS),
        assignment=f"{DATA}/split.tsv",
    params:
        val=config["split"]["val"],
        test=config["split"]["test"],
        seed=config["split"]["seed"],
        out_dir=lambda wc, output: os.path.dirname(output.assignment),
    log:
        f"{LOGS}/split.log",
    benchmark:
        f"{BENCH}/split.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn split --corpus {input.corpus} --tunes {input.tunes} --val {params.val}"
        " --test {params.test} --seed {params.seed} --out-dir {params.out_dir} > {log} 2>&1"


rule vocab:
    input:
        f"{DATA}/train.txt",
    output:
        f"{DATA}/vocab.json",
    params:
        tags=config["vocab"]["tags"],
    log:
        f"{LOGS}/vocab.log",
    benchmark:
        f"{BENCH}/vocab.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn vocab --train {input} --tags {params.tags} --out {output} > {log} 2>&1"


rule encode:
    input:
        expand(f"{DATA}/{{split}}.txt", split=SPLITS),
        vocab=f"{DATA}/vocab.json",
    output:
        expand(f"{DATA}/{{split}}.pt", split=SPLITS),
        stats=report(f"{TABLES}/corpus_stats.tsv", caption="../report/corpus_stats.rst", category="1. Corpus"),
    params:
        data_dir=lambda wc, input: os.path.dirname(input.vocab),
    log:
        f"{LOGS}/encode.log",
    benchmark:
        f"{BENCH}/encode.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn encode --vocab {input.vocab} --data-dir {params.data_dir} --out-dir {params.data_dir}"
        " --stats {output.stats} > {log} 2>&1"
