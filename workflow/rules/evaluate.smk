# Test loss per run, then the run tables and loss plots.


rule evaluate:
    input:
        checkpoint="results/models/{run}/best.pt",
        test=f"{DATA}/test.pt",
    output:
        "results/models/{run}/test.tsv",
    params:
        device=config["train"]["device"],
    threads: config["train"]["threads"]
    log:
        f"{LOGS}/evaluate/{{run}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{run}}.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn evaluate --checkpoint {input.checkpoint} --data {input.test} --out {output}"
        " --device {params.device} --threads {threads} > {log} 2>&1"


rule tables:
    input:
        tests=expand("results/models/{run}/test.tsv", run=RUNS),
        metrics=expand("results/models/{run}/metrics.tsv", run=RUNS),
    output:
        test_loss=report(f"{TABLES}/test_loss.tsv", caption="../report/test_loss.rst", category="2. Training"),
        best_run=f"{TABLES}/best_run.tsv",
        curves=report(f"{PLOTS}/loss_curves.png", caption="../report/loss_curves.rst", category="2. Training"),
        bars=report(f"{PLOTS}/test_loss.png", caption="../report/test_loss_plot.rst", category="2. Training"),
    params:
        runs=expand("results/models/{run}", run=RUNS),
        tables=lambda wc, output: os.path.dirname(output.test_loss),
        plots=lambda wc, output: os.path.dirname(output.curves),
    log:
        f"{LOGS}/tables.log",
    benchmark:
        f"{BENCH}/tables.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn tables --runs {params.runs} --out-dir {params.tables} --plots-dir {params.plots} > {log} 2>&1"
