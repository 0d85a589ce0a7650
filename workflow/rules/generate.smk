# Sampling at each temperature (and decoding: `0.7-form` is form-aware) from the best run (or every
# run), rendering, and the validity table.


rule sample:
    input:
        checkpoint=sample_checkpoint,
        test=f"{DATA}/test.txt",
        train=f"{DATA}/train.txt",
    output:
        table="{set}/samples.tsv",
        raw="{set}/raw.txt",
        tunes=numbered("{set}", config["sample"]["per_temperature"], "abc"),
    log:
        f"{LOGS}/sample/{{set}}.log",
    benchmark:
        f"{BENCH}/sample/{{set}}.tsv"
    wildcard_constraints:
        set=SAMPLE_SET,
    conda:
        "../../envs/abcrnn.yaml"
    threads: 1
    params:
        flags=sample_flags(),
        decoding=sample_flags_of,
        device=cli_flags({"device": config["train"]["device"]}),
    shell:
        "python -m abcrnn sample --checkpoint {input.checkpoint:q} --test {input.test:q} --train {input.train:q}"
        " {params.decoding} {params.flags} {params.device} --threads {threads}"
        " --out-dir {wildcards.set:q} > {log:q} 2>&1"


rule baseline_tunes:
    input:
        f"{DATA}/test.txt",
    output:
        tunes=numbered(BASELINE, config["sample"]["baseline_tunes"], "abc"),
        table=f"{BASELINE}/tunes.tsv",
    log:
        f"{LOGS}/baseline_tunes.log",
    benchmark:
        f"{BENCH}/baseline_tunes.tsv"
    localrule: True
    conda:
        "../../envs/abcrnn.yaml"
    params:
        flags=cli_flags(
            {
                "count": config["sample"]["baseline_tunes"],
                "seed": config["sample"]["seed"],
            }
        ),
    shell:
        "python -m abcrnn baseline --test {input:q} {params.flags} --out {output.table:q} > {log:q} 2>&1"


rule render:
    input:
        tunes_of,
    output:
        table="{set}/render.tsv",
        files=directory("{set}/rendered"),
    log:
        f"{LOGS}/render/{{set}}.log",
    benchmark:
        f"{BENCH}/render/{{set}}.tsv"
    wildcard_constraints:
        set=f"{SAMPLE_SET}|{re.escape(BASELINE)}",
    localrule: True
    conda:
        "../../envs/abcrnn.yaml"
    threads: 2
    params:
        flags=render_flags(),
    shell:
        "python -m abcrnn render --tunes {input:q} --out-dir {output.files:q} --out {output.table:q}"
        " {params.flags} --threads {threads} > {log:q} 2>&1"


rule validity:
    input:
        renders=sample_set_files("render.tsv"),
        samples=sample_set_files("samples.tsv"),
        baseline=f"{BASELINE}/render.tsv",
        best_run=f"{TABLES}/best_run.tsv",
        train=f"{DATA}/train.txt",
    output:
        table=report(
            f"{TABLES}/sample_validity.tsv",
            caption="../report/sample_validity.rst",
            category="3. Generation",
        ),
        tunes=f"{TABLES}/sample_tunes.tsv",
        plot=report(
            f"{PLOTS}/sample_validity.png",
            caption="../report/sample_validity_plot.rst",
            category="3. Generation",
        ),
    log:
        f"{LOGS}/validity.log",
    benchmark:
        f"{BENCH}/validity.tsv"
    localrule: True
    conda:
        "../../envs/abcrnn.yaml"
    params:
        specs=sample_specs("render.tsv"),
        flags=cli_flags({"min_notes": config["render"]["min_notes"]}),
    shell:
        "python -m abcrnn validity {params.specs} --baseline {input.baseline:q} {params.flags}"
        " --train {input.train:q} --best-run {input.best_run:q}"
        " --out {output.table:q} --tunes-out {output.tunes:q} --plot {output.plot:q} > {log:q} 2>&1"
