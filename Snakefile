# abcrnn: character-level RNNs that learn folk tunes in ABC notation, and write new ones.
# Stages live in workflow/rules/*.smk; all logic is in the abcrnn package (src/abcrnn).
# On a cluster (profiles/slurm) the rules marked `localrule: True`, which take seconds, run on the
# submitting host, and quality and gallery go as one job (group `assess`): README, Clusters.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/quality.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
    localrule: True
