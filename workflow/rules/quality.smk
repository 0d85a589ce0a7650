# Musical quality of the samples against real tunes (quality.tsv and its plots), and the gallery.


rule quality:
    input:
        samples=sample_set_files("samples.tsv"),
        best_run=f"{TABLES}/best_run.tsv",
        train=f"{DATA}/train.txt",
        test=f"{DATA}/test.txt",
    output:
        **{
            family: report(
                f"{PLOTS}/quality_{family}.png",
                caption=f"../report/quality_{family}.rst",
                category="5. Musical quality",
            )
            for family in QUALITY_PLOTS
        },
        table=report(
            f"{TABLES}/quality.tsv",
            caption="../report/quality.rst",
            category="5. Musical quality",
        ),
        tunes=f"{TABLES}/quality_tunes.tsv",
    log:
        f"{LOGS}/quality.log",
    benchmark:
        f"{BENCH}/quality.tsv"
    group:
        "assess"
    conda:
        "../../envs/abcrnn.yaml"
    params:
        specs=sample_specs("samples.tsv"),
        flags=cli_flags(
            {
                "copied": config["quality"]["copied"],
                "draws": config["quality"]["draws"],
                "seed": config["sample"]["seed"],
            }
        ),
        plots=lambda wc, output: cli_flags(
            {f"plot_{family}": output[family] for family in QUALITY_PLOTS}
        ),
    shell:
        "python -m abcrnn quality {params.specs} --best-run {input.best_run:q} --train {input.train:q}"
        " --test {input.test:q} {params.flags} {params.plots} --out {output.table:q}"
        " --tunes-out {output.tunes:q} > {log:q} 2>&1"


rule gallery:
    input:
        samples=sample_set_files("samples.tsv"),
        renders=sample_set_files("render.tsv"),
        rendered=sample_set_files("rendered"),
        best_run=f"{TABLES}/best_run.tsv",
        test=f"{DATA}/test.txt",
        validity=f"{TABLES}/sample_tunes.tsv",
        quality=rules.quality.output.tunes,
        summary=rules.quality.output.table,
    output:
        report(
            directory(GALLERY),
            htmlindex="index.html",
            caption="../report/gallery.rst",
            category="5. Musical quality",
        ),
    log:
        f"{LOGS}/gallery.log",
    benchmark:
        f"{BENCH}/gallery.tsv"
    group:
        "assess"
    conda:
        "../../envs/abcrnn.yaml"
    threads: 2
    params:
        specs=sample_specs("samples.tsv"),
        flags=cli_flags(
            {
                "audio": config["gallery"]["audio"],
                "timeout": config["render"]["timeout_s"],
            }
        ),
    shell:
        "python -m abcrnn gallery {params.specs} --best-run {input.best_run:q} --test {input.test:q}"
        " --validity {input.validity:q} --quality {input.quality:q} --summary {input.summary:q}"
        " {params.flags} --threads {threads} --out-dir {output:q} > {log:q} 2>&1"


rule models:
    input:
        test_loss=rules.tables.output.test_loss,
        validity=rules.validity.output.table,
        quality=rules.quality.output.table,
    output:
        table=report(
            f"{TABLES}/models.tsv",
            caption="../report/models.rst",
            category="2. Training",
        ),
        plot=report(
            f"{PLOTS}/models.png",
            caption="../report/models_plot.rst",
            category="2. Training",
        ),
    log:
        f"{LOGS}/models.log",
    benchmark:
        f"{BENCH}/models.tsv"
    localrule: True
    conda:
        "../../envs/abcrnn.yaml"
    shell:
        "python -m abcrnn models --test-loss {input.test_loss:q} --validity {input.validity:q}"
        " --quality {input.quality:q} --out {output.table:q} --plot {output.plot:q} > {log:q} 2>&1"
