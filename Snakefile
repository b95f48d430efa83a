"""crossrec: download -> prepare -> train -> plan/tables/figures (design §1-2).

Named targets: data, runs, tables, figures, all (the default).
"""

from snakemake.utils import min_version, validate

min_version("9.0")


# The default study, unless --configfile names another (they would otherwise be merged).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


rule all:
    """Every table and figure of the configured study."""
    default_target: True
    input:
        all_tables(),
        all_figures(),


rule data:
    """Every configured dataset, downloaded and prepared."""
    input:
        all_datasets(),


rule runs:
    """Every planned training run."""
    input:
        all_metrics(),
