# What single neurons learn (the paper's section 4.4).


rule activations:
    input:
        test_loss=f"{TABLES}/test_loss.tsv",
        checkpoints=expand(f"{MODELS}/{{run}}/best.pt", run=RUNS),
    output:
        **{
            state: report(
                path, caption="../report/activations.rst", category="4. Neurons"
            )
            for state, path in activation_plots().items()
        },
        table=f"{TABLES}/neurons.tsv",
    log:
        f"{LOGS}/activations.log",
    benchmark:
        f"{BENCH}/activations.tsv"
    conda:
        "../../envs/abcrnn.yaml"
    params:
        flags=lambda wc, output: cli_flags(
            {
                "seed": config["sample"]["seed"],
                **{f"{state}_plot": output[state] for state in activation_plots()},
            }
        ),
    shell:
        "python -m abcrnn activations --runs {input.test_loss:q} --checkpoints {input.checkpoints:q}"
        " {params.flags} --table {output.table:q} > {log:q} 2>&1"
