# Test loss per run, then the run tables and loss plots.


rule evaluate:
    input:
        unpack(run_data("test")),
        checkpoint=f"{MODELS}/{{run}}/best.pt",
    output:
        f"{MODELS}/{{run}}/test.tsv",
    log:
        f"{LOGS}/evaluate/{{run}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{run}}.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    threads: config["train"]["threads"]
    params:
        flags=cli_flags({"device": config["train"]["device"]}),
    shell:
        "python -m abcrnn evaluate --checkpoint {input.checkpoint:q} --data {input.test:q}"
        " --vocab {input.vocab:q} --out {output:q}"
        " {params.flags} --threads {threads} > {log:q} 2>&1"


checkpoint tables:
    input:
        tests=expand(f"{MODELS}/{{run}}/test.tsv", run=RUNS),
        metrics=expand(f"{MODELS}/{{run}}/metrics.tsv", run=RUNS),
    output:
        **{
            name: report(path, caption=f"../report/{name}.rst", category="2. Training")
            for name, path in grid_plots().items()
        },
        test_loss=report(
            f"{TABLES}/test_loss.tsv",
            caption="../report/test_loss.rst",
            category="2. Training",
        ),
        best_run=f"{TABLES}/best_run.tsv",
        curves=report(
            f"{PLOTS}/loss_curves.png",
            caption="../report/loss_curves.rst",
            category="2. Training",
        ),
        bars=report(
            f"{PLOTS}/test_loss.png",
            caption="../report/test_loss_plot.rst",
            category="2. Training",
        ),
    log:
        f"{LOGS}/tables.log",
    benchmark:
        f"{BENCH}/tables.tsv"
    localrule: True
    conda:
        "../../envs/abcrnn.yaml"
    params:
        flags=lambda wc, output: cli_flags(
            {name.replace("_", "-"): output[name] for name in grid_plots()}
        ),
    shell:
        "python -m abcrnn tables --tests {input.tests:q} --metrics {input.metrics:q}"
        " --test-loss {output.test_loss:q} --best-run {output.best_run:q}"
        " --loss-curves {output.curves:q} --test-loss-plot {output.bars:q} {params.flags} > {log:q} 2>&1"
