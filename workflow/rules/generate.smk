# Sampling at each temperature from the best run (or every run), rendering, and the validity table.


rule sample:
    input:
        best_run=f"{TABLES}/best_run.tsv",
        checkpoints=expand("results/models/{run}/best.pt", run=RUNS),
        test=f"{DATA}/test.txt",
    output:
        "results/samples/{temperature}/samples.tsv",
    params:
        args=sample_args(),
        out_dir=lambda wc, output: os.path.dirname(output[0]),
        models_dir=lambda wc, input: os.path.dirname(os.path.dirname(input.checkpoints[0])),
        device=config["train"]["device"],
    threads: 1
    log:
        f"{LOGS}/sample/{{temperature}}.log",
    benchmark:
        f"{BENCH}/sample/{{temperature}}.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn sample --best-run {input.best_run} --models-dir {params.models_dir} --test {input.test}"
        " --temperature {wildcards.temperature} {params.args} --device {params.device} --threads {threads}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule sample_run:
    input:
        checkpoint="results/models/{run}/best.pt",
        test=f"{DATA}/test.txt",
    output:
        "results/samples/runs/{run}/{temperature}/samples.tsv",
    params:
        args=sample_args(),
        out_dir=lambda wc, output: os.path.dirname(output[0]),
        device=config["train"]["device"],
    threads: 1
    log:
        f"{LOGS}/sample/{{run}}/{{temperature}}.log",
    benchmark:
        f"{BENCH}/sample/{{run}}/{{temperature}}.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn sample --checkpoint {input.checkpoint} --test {input.test}"
        " --temperature {wildcards.temperature} {params.args} --device {params.device} --threads {threads}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule render:
    input:
        "{dir}/samples.tsv",
    output:
        "{dir}/render.tsv",
    params:
        args=render_args(),
    wildcard_constraints:
        dir="results/samples/.+",
    threads: 2
    log:
        f"{LOGS}/render/{{dir}}.log",
    benchmark:
        f"{BENCH}/render/{{dir}}.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn render --dir {wildcards.dir} --out {output} {params.args} --threads {threads} > {log} 2>&1"


rule baseline:
    input:
        f"{DATA}/test.txt",
    output:
        "results/baseline/render.tsv",
    params:
        args=render_args(),
        limit=config["sample"]["baseline_tunes"],
        seed=config["sample"]["seed"],
    threads: 2
    log:
        f"{LOGS}/baseline.log",
    benchmark:
        f"{BENCH}/baseline.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn render --from-tagged {input} --limit {params.limit} --seed {params.seed}"
        " --dir results/baseline --out {output} {params.args} --threads {threads} > {log} 2>&1"


# (run, temperature, directory) of each row of the validity table: the best run's samples (its run
# name comes from best_run.tsv), then with `sample.runs: all` every run's, in grid order.
VALIDITY_SAMPLES = [("", t, f"results/samples/{t}") for t in TEMPERATURES] + (
    [(run, t, f"results/samples/runs/{run}/{t}") for run in RUNS for t in TEMPERATURES]
    if config["sample"]["runs"] == "all" else []
)


rule validity:
    input:
        renders=[f"{directory}/render.tsv" for _, _, directory in VALIDITY_SAMPLES],
        baseline="results/baseline/render.tsv",
        best_run=f"{TABLES}/best_run.tsv",
        train=f"{DATA}/train.txt",
    output:
        table=report(f"{TABLES}/sample_validity.tsv", caption="../report/sample_validity.rst", category="3. Generation"),
        tunes=f"{TABLES}/sample_tunes.tsv",
        plot=report(f"{PLOTS}/sample_validity.png", caption="../report/sample_validity_plot.rst", category="3. Generation"),
    params:
        samples=" ".join(f"{run}:{t}={d}" if run else f"{t}={d}" for run, t, d in VALIDITY_SAMPLES),
        min_notes=config["render"]["min_notes"],
    log:
        f"{LOGS}/validity.log",
    benchmark:
        f"{BENCH}/validity.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn validity --samples {params.samples} --baseline results/baseline --min-notes {params.min_notes}"
        " --train {input.train} --best-run {input.best_run}"
        " --out {output.table} --tunes-out {output.tunes} --plot {output.plot} > {log} 2>&1"
