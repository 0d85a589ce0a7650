# One training job per grid point: results/models/{run}/ holds best.pt, last.pt and metrics.tsv.


rule train:
    input:
        train=f"{DATA}/train.pt",
        val=f"{DATA}/val.pt",
        vocab=f"{DATA}/vocab.json",
    output:
        best="results/models/{run}/best.pt",
        last="results/models/{run}/last.pt",
        metrics="results/models/{run}/metrics.tsv",
    params:
        args=lambda wc: train_args(wc.run),
        out_dir=lambda wc, output: os.path.dirname(output.best),
    threads: config["train"]["threads"]
    resources:
        mem_mb=config["train"]["mem_mb"],
        runtime=config["train"]["runtime_min"],
        gpu=1 if config["train"]["device"] == "cuda" else 0,
    log:
        f"{LOGS}/train/{{run}}.log",
    benchmark:
        f"{BENCH}/train/{{run}}.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn train --train {input.train} --val {input.val} --vocab {input.vocab}"
        " --out-dir {params.out_dir} --run {wildcards.run} {params.args} --threads {threads} > {log} 2>&1"
