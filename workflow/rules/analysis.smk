# What single neurons of the best model learn (the paper's section 4.4).


rule activations:
    input:
        best_run=f"{TABLES}/best_run.tsv",
        checkpoints=expand("results/models/{run}/best.pt", run=RUNS),
    output:
        plot=report(f"{PLOTS}/activations_hidden.png", caption="../report/activations.rst", category="4. Neurons"),
        table=f"{TABLES}/neurons.tsv",
    params:
        plots_dir=lambda wc, output: os.path.dirname(output.plot),
        models_dir=lambda wc, input: os.path.dirname(os.path.dirname(input.checkpoints[0])),
        seed=config["sample"]["seed"],
    log:
        f"{LOGS}/activations.log",
    benchmark:
        f"{BENCH}/activations.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn activations --best-run {input.best_run} --models-dir {params.models_dir}"
        " --seed {params.seed} --plots-dir {params.plots_dir} --table {output.table} > {log} 2>&1"
