"""cronwright operator: watches CronJobSpecs and fires their runs on time."""
