"""crossrec: download -> prepare -> plan -> [tune -> align ->] train -> tables, figures
(docs/design.md §1-2; rules by concern in workflow/rules/).

Named targets: data, runs, tables, figures, all (the default).
"""

from snakemake.utils import min_version

min_version("9.0")

from crossrec.study.files import SELECTIONS_DIR
from crossrec.workflow_config import check_or_exit, config_files, config_source

# The default study, unless --configfile names another (they would otherwise be merged).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Schema (src/crossrec/schemas/config.schema.yaml), --config strings coerced, names and every
# planned parameter checked: a bad key is one line and exit 2, before any job runs. The study
# these checks built (crossrec.study) is the one the rules plan with: typed once.
STUDY = check_or_exit(
    config,
    config_source(workflow),
    config_files(workflow),
    selections=SELECTIONS_DIR,
    data="results/data",
)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/study.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/stages.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


onstart:
    slurm_start()


# Rules that run where snakemake runs, never submitted to a cluster: download needs the
# internet (compute nodes often have none); the others are quick.
localrules:
    all,
    data,
    runs,
    download,
    knockout_data,
    plan,
    select_tune,
    stage_tune,
    select_align,
    stage_align,
    select_rung_tune,
    select_rung_align,
    confirm_tune,
    confirm_align,
    study,
    tables,
    figures,
    config,


rule all:
    """Every table and figure of the configured study."""
    default_target: True
    input:
        all_tables(),
        all_figures(),
        "results/config.yaml",
        lost_selections(),


rule data:
    """Every configured dataset, downloaded and prepared."""
    input:
        all_datasets(),


rule runs:
    """Every planned training run."""
    input:
        all_metrics(),
        lost_selections(),
