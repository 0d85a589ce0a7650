# One training job per grid point: results/models/{run}/ holds best.pt, last.pt and metrics.tsv.
# A run reads the encoded splits of its vocabulary unit (results/data/char/ or results/data/token/).


rule train:
    input:
        unpack(run_data("train", "val")),
    output:
        best=f"{MODELS}/{{run}}/best.pt",
        last=f"{MODELS}/{{run}}/last.pt",
        metrics=f"{MODELS}/{{run}}/metrics.tsv",
    log:
        f"{LOGS}/train/{{run}}.log",
    benchmark:
        f"{BENCH}/train/{{run}}.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=config["train"]["mem_mb"],
        runtime=config["train"]["runtime_min"],
        gpu=1 if config["train"]["device"] == "cuda" else 0,
    params:
        flags=train_flags,
        out_dir=lambda wc, output: os.path.dirname(output.best),
    shell:
        "python -m abcrnn train --train {input.train:q} --val {input.val:q} --vocab {input.vocab:q}"
        " --out-dir {params.out_dir:q} --run {wildcards.run:q} {params.flags} --threads {threads}"
        " > {log:q} 2>&1"
